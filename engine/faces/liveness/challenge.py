"""The active challenge: a random sequence of actions (blink, turn the head left, turn it right), checked frame
by frame from the head yaw (5 RetinaFace points) and the eye openness (FaceMesh). A recorded video of the
owner does not know the order, and a wrong turn fails the challenge."""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from ..quality import MAX_YAW


class Action(Enum):
    BLINK = "blink"
    TURN_LEFT = "turn your head left"
    TURN_RIGHT = "turn your head right"


class ChallengeState(Enum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed out"


FRONTAL_YAW = 0.15  # |head_yaw| below this: looking at the camera
TURN_YAW = MAX_YAW  # |head_yaw| beyond this: a clear turn, a face no longer frontal (quality.is_frontal)
TURN_FRAMES = 2  # consecutive frames a turn must be held (one frame may be a landmark glitch)
CLOSED_RATIO = 0.65  # eyes closed: openness below this fraction of the person's own open-eye level
REOPENED_RATIO = 0.85
MAX_BLINK_S = 0.5  # a blink closes and reopens within this; looking down is slower
BASELINE_S = 1.0  # open-eye level: median openness of the last second of frontal frames
FACE_LOST_S = 1.0


@dataclass(frozen=True)
class ChallengeStatus:
    state: ChallengeState
    prompt: str  # what to show now: the current action, "" once finished
    step: int  # index of the current action (== len(actions) once passed)
    actions: tuple[Action, ...]
    reason: str = ""  # why it failed or timed out, in words

    @property
    def finished(self) -> bool:
        return self.state is not ChallengeState.PENDING


def random_actions(count: int = 3, rng: random.Random | None = None) -> tuple[Action, ...]:
    """count actions in random order; with count <= 3 each action appears at most once."""
    rng = rng or random.SystemRandom()
    pool = list(Action)
    rng.shuffle(pool)
    extra = [rng.choice(list(Action)) for _ in range(max(0, count - len(pool)))]
    return tuple(pool[:count] + extra)


class ChallengeSession:
    """Feed one face per frame with update(); read the prompt and the state from each returned status.

    `mirrored` says the frames are shown (and passed here) flipped like a mirror, which swaps the
    image direction of "left". Without it, a person turning to their own left moves the nose
    towards the image's right.
    """

    def __init__(self, actions: tuple[Action, ...] | None = None, step_time_s: float = 5.0,
                 mirrored: bool = False, rng: random.Random | None = None):
        self.actions = tuple(actions) if actions else random_actions(3, rng)
        self.step_time_s = step_time_s
        self.mirrored = mirrored
        self.step = 0
        self.status = ChallengeStatus(ChallengeState.PENDING, self.actions[0].value, 0, self.actions)
        self._step_started: float | None = None
        self._last_face: float | None = None
        self._reset_step_evidence()
        self._openness: deque[tuple[float, float]] = deque()

    def _reset_step_evidence(self) -> None:
        self._seen_frontal = False
        self._turn_frames = 0
        self._wrong_frames = 0
        self._closed_since: float | None = None

    def update(self, timestamp: float, yaw: float | None, openness: float | None) -> ChallengeStatus:
        """One frame: yaw as engine.faces.quality.head_yaw, openness as landmarks.eye_openness; None when no face."""
        if self.status.finished:
            return self.status
        if self._step_started is None:
            self._step_started = timestamp
        if yaw is None:
            if self._last_face is not None and timestamp - self._last_face > FACE_LOST_S:
                return self._finish(ChallengeState.FAILED, "the face left the camera's view")
        else:
            self._last_face = timestamp
            done = self._check_action(self.actions[self.step], timestamp, yaw, openness)
            if self.status.finished:
                return self.status
            if done:
                return self._next_step(timestamp)
        if timestamp - self._step_started > self.step_time_s:
            return self._finish(ChallengeState.TIMED_OUT,
                                f"no '{self.actions[self.step].value}' within {self.step_time_s:g} s")
        return self.status

    def _next_step(self, timestamp: float) -> ChallengeStatus:
        self.step += 1
        self._reset_step_evidence()
        self._step_started = timestamp
        if self.step == len(self.actions):
            return self._finish(ChallengeState.PASSED, "")
        self.status = ChallengeStatus(ChallengeState.PENDING, self.actions[self.step].value, self.step, self.actions)
        return self.status

    def _finish(self, state: ChallengeState, reason: str) -> ChallengeStatus:
        self.status = ChallengeStatus(state, "", self.step, self.actions, reason)
        return self.status

    def _check_action(self, action: Action, timestamp: float, yaw: float, openness: float | None) -> bool:
        if action is Action.BLINK:
            return self._blinked(timestamp, yaw, openness)
        towards_image_right = (action is Action.TURN_LEFT) != self.mirrored
        signed = yaw if towards_image_right else -yaw  # > 0 in the asked direction
        self._seen_frontal |= abs(yaw) < FRONTAL_YAW
        self._turn_frames = self._turn_frames + 1 if signed > TURN_YAW and self._seen_frontal else 0
        # judged only once the face came back to the camera: the last step's turn is still ending
        self._wrong_frames = self._wrong_frames + 1 if signed < -TURN_YAW and self._seen_frontal else 0
        if self._wrong_frames >= TURN_FRAMES:
            other = "right" if action is Action.TURN_LEFT else "left"
            self._finish(ChallengeState.FAILED, f"the head turned {other} when asked to {action.value}")
        return self._turn_frames >= TURN_FRAMES

    def _blinked(self, timestamp: float, yaw: float, openness: float | None) -> bool:
        if openness is None or abs(yaw) > FRONTAL_YAW:
            self._closed_since = None  # the eye aspect ratio is only comparable on a frontal face
            return False
        baseline = self._open_level(timestamp)
        if baseline is None:
            self._openness.append((timestamp, openness))
            return False
        if self._closed_since is None:
            if openness < CLOSED_RATIO * baseline:
                self._closed_since = timestamp
            else:
                self._openness.append((timestamp, openness))
            return False
        if openness > REOPENED_RATIO * baseline:
            quick = timestamp - self._closed_since <= MAX_BLINK_S
            self._closed_since = None
            return quick
        return False

    def _open_level(self, timestamp: float) -> float | None:
        while self._openness and timestamp - self._openness[0][0] > BASELINE_S:
            self._openness.popleft()
        if len(self._openness) < 3:
            return None
        return float(np.median([value for _, value in self._openness]))
