"""Hands-free recognition decisions: a name is announced only when several consecutive frames agree,
the face is judged live, and the same person is not announced again before a cooldown.

Liveness, by mode (engine.config.LIVENESS_MODES):
- "off": every face is taken at face value;
- "passive": a face whose track the passive cues call a spoof is announced as SPOOF, with the reasons;
- "passive+challenge": in addition, a recognised face must answer a random challenge (blink, turn left,
  turn right) before its name is announced; a failed or timed-out challenge is announced as SPOOF, and that
  face stays a suspected spoof for the cooldown before it may try again. Strangers are not challenged:
  there is nothing to open for them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .faces.liveness import ChallengeSession, ChallengeState, ChallengeStatus, random_actions
from .faces.quality import MAX_YAW

UNKNOWN = "not recognized"
SPOOF = "spoof suspected"


@dataclass(frozen=True)
class Announcement:
    time: float
    name: str  # a person's name, UNKNOWN for a stranger, SPOOF for a photo or a screen
    distance: float
    reason: str = ""  # why a spoof is suspected, in words
    claimed: str | None = None  # for SPOOF: the enrolled person the face looked like, if any


@dataclass
class RecognitionVote:
    frames_to_decide: int = 3
    cooldown: float = 5.0
    liveness: str = "off"
    challenge_steps: int = 2
    step_time: float = 5.0
    rng: random.Random | None = None  # None: the system's randomness (tests pass a seeded one)
    _candidate: str | None = None
    _streak: int = 0
    _last_announced: dict = field(default_factory=dict)
    _challenge: ChallengeSession | None = None
    _challenge_track: int | None = None
    _challenge_name: str | None = None
    _passed_track: int | None = None
    _failed: tuple[int | None, float, ChallengeStatus] | None = None  # track, until when, how it failed
    _decision: str | None = None

    def update(self, face, now: float) -> Announcement | None:
        """Feed the largest face of one frame (a FaceObservation, or None when there is no face or no gallery
        to match against) with the frame's time in seconds; returns a new announcement or None."""
        if face is None or face.match is None:
            self._candidate, self._streak, self._challenge, self._decision = None, 0, None, None
            return None
        name, reason = self._label(face)
        claimed = face.match.name if face.match.recognized else None
        if name is None:  # the passive cues have not seen this face long enough to judge it
            self._candidate, self._streak, self._decision = None, 0, None
            return None
        if self._challenge is not None and self._track(face) == self._challenge_track:
            if name != SPOOF:
                name = self._challenge_name  # the turns it asks for hide who it is from the encoder
        elif abs(face.quality.yaw) > MAX_YAW:
            return None  # a face in profile is neither recognised nor a stranger: no vote
        self._streak = self._streak + 1 if name == self._candidate else 1
        self._candidate = name
        if self._streak < self.frames_to_decide:
            self._decision = None
            return None
        if name not in (UNKNOWN, SPOOF) and self.liveness == "passive+challenge":
            status = self._challenge_status(face, now)
            if status is not None and not status.finished:
                self._decision = None
                return None
            if status is not None:  # failed or timed out
                name, reason = SPOOF, f"the challenge was not answered ({status.reason})"
                claimed = self._challenge_name
        self._decision = name
        return self._announce(Announcement(now, name, face.match.distance, reason, claimed if name == SPOOF else None))

    @property
    def current(self) -> str | None:
        """The decision of the last frame (a name, UNKNOWN or SPOOF), None while undecided or challenging."""
        return self._decision

    @property
    def prompt(self) -> str:
        """What the person in front of the camera is asked to do now ("" when nothing is asked)."""
        challenge = self._challenge
        if challenge is None or challenge.status.finished:
            return ""
        steps = f"{challenge.status.step + 1}/{len(challenge.actions)}"
        return f"Please {challenge.status.prompt} ({steps})"

    def _label(self, face) -> tuple[str | None, str]:
        """(name, UNKNOWN or SPOOF, and why a spoof) for this frame's face; (None, "") while its liveness is unsure."""
        tracked = face.liveness if self.liveness != "off" else None
        if tracked is not None and not tracked.settled:
            return None, ""
        if tracked is not None and not tracked.verdict.live:
            return SPOOF, tracked.verdict.why()
        return (face.match.name if face.match.recognized else UNKNOWN), ""

    def _challenge_status(self, face, now: float) -> ChallengeStatus | None:
        """None once this face's track has passed; else the challenge's status after this frame."""
        track = self._track(face)
        if track is not None and track == self._passed_track:
            return None
        if self._failed is not None and self._failed[0] == track and now < self._failed[1]:
            return self._failed[2]
        if self._challenge is None or track != self._challenge_track:
            actions = random_actions(self.challenge_steps, self.rng)
            self._challenge, self._challenge_track = ChallengeSession(actions, self.step_time), track
            self._challenge_name = face.match.name
        openness = face.liveness.openness if face.liveness is not None else None
        status = self._challenge.update(now, face.quality.yaw, openness)
        if status.finished:
            self._challenge = None
            if status.state is ChallengeState.PASSED:
                self._passed_track = track
                return None
            self._failed = (track, now + self.cooldown, status)
        return status

    @staticmethod
    def _track(face) -> int | None:
        return face.liveness.track_id if face.liveness is not None else None

    def _announce(self, announcement: Announcement) -> Announcement | None:
        """The announcement, unless the same name was announced less than a cooldown ago."""
        last = self._last_announced.get(announcement.name)
        if last is not None and announcement.time - last < self.cooldown:
            return None
        self._last_announced[announcement.name] = announcement.time
        return announcement
