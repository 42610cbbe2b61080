"""Hands-free recognition decisions: a name is announced only when several consecutive frames agree,
the face is judged live, and the same person is not announced again before a cooldown.

Liveness, by mode (engine.config.LIVENESS_MODES):
- "off": every face is taken at face value;
- "passive": a face whose track the passive cues call a spoof is announced as SPOOF, with the reasons;
- "passive+challenge": in addition, a recognised face must answer a random challenge (blink, turn left,
  turn right) before its name is announced. The pass belongs to that face track *and* that name: another
  name on the track is challenged again. While the challenge runs, a frontal frame that shows anyone else
  fails it (an attacker cannot show the owner's print, then do the turns with their own face), and only the
  turns it asks for may hide the face from the encoder. A failed, timed-out or abandoned challenge makes the
  claimed name a suspected spoof for the cooldown, whatever track claims it (no re-rolling the order).
  Strangers are not challenged: there is nothing to open for them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from .faces.liveness import ChallengeSession, ChallengeState, ChallengeStatus, random_actions

UNKNOWN = "not recognized"
SPOOF = "spoof suspected"


def liveness_of(face, mode: str) -> tuple[bool | None, str]:
    """Is a camera face live under this liveness mode? (True, ""), (False, why a spoof is suspected), or
    (None, "") while its passive verdict has not settled (or the pipeline is not checking it yet).
    Mode "off" takes every face as live."""
    if mode == "off":
        return True, ""
    tracked = face.liveness
    if tracked is None or not tracked.settled:
        return None, ""
    return (True, "") if tracked.verdict.live else (False, tracked.verdict.why())


@dataclass(frozen=True)
class Announcement:
    time: float
    name: str  # a person's name, UNKNOWN for a stranger, SPOOF for a photo or a screen
    distance: float
    reason: str = ""  # why a spoof is suspected, in words
    claimed: str | None = None  # for SPOOF: the enrolled person the face looked like, if any
    challenge_failed: bool = False  # SPOOF because the challenge was not answered

    @property
    def kind(self) -> str:
        """The event kind (engine.events.KINDS): recognized, unknown, spoof or challenge_failed."""
        if self.name == SPOOF:
            return "challenge_failed" if self.challenge_failed else "spoof"
        return "unknown" if self.name == UNKNOWN else "recognized"


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
    _passed: tuple[int | None, str] | None = None  # (track, name) that answered its challenge
    _failed: dict = field(default_factory=dict)  # claimed name -> (until when, the failed ChallengeStatus)
    _decision: str | None = None
    _intruder_frames: int = 0  # consecutive frontal frames of someone else on the track being challenged

    def update(self, face, now: float) -> Announcement | None:
        """Feed the largest face of one frame (a FaceObservation, or None when there is no face or no gallery
        to match against) with the frame's time in seconds; returns a new announcement or None."""
        if face is None or face.match is None:
            self._candidate, self._streak, self._decision = None, 0, None
            self._feed_challenge(now, None)  # a short gap is tolerated; a longer one fails the challenge
            return None
        name, reason = self._label(face)
        claimed = face.match.name if face.match.recognized else None
        if name is None:  # the passive cues have not seen this face long enough to judge it
            self._candidate, self._streak, self._decision = None, 0, None
            return None
        turned = not face.quality.frontal
        if self._challenge is not None and self._track(face) == self._challenge_track and name != SPOOF:
            self._intruder_frames = 0 if turned or name == self._challenge_name else self._intruder_frames + 1
            if self._intruder_frames >= self.frames_to_decide:  # as many frames as any decision needs
                return self._fail_challenge(now, face, f"another face ({name}) took the place of {self._challenge_name}")
            if turned:
                name = self._challenge_name  # the turns it asks for hide who it is from the encoder
                assert name is not None  # set with the challenge
            elif name != self._challenge_name:
                return None  # one odd frame (blur, a blink) neither counts nor breaks the challenge
        elif turned:
            return None  # a face in profile is neither recognised nor a stranger: no vote
        self._streak = self._streak + 1 if name == self._candidate else 1
        self._candidate = name
        if self._streak < self.frames_to_decide:
            self._decision = None
            return None
        challenge_failed = False
        if name not in (UNKNOWN, SPOOF) and self.liveness == "passive+challenge":
            status = self._challenge_status(face, name, now)
            if status is not None and status.state in (ChallengeState.PENDING, ChallengeState.PASSED):
                self._decision = None
                return None
            if status is not None:  # failed or timed out, now or less than a cooldown ago
                name, reason, claimed = SPOOF, f"the challenge was not answered ({status.reason})", name
                challenge_failed = True
        self._decision = name
        return self._announce(Announcement(now, name, face.match.distance, reason, claimed if name == SPOOF else None,
                                           challenge_failed))

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
        live, why = liveness_of(face, self.liveness)
        if live is None:
            return None, ""
        if not live:
            return SPOOF, why
        return (face.match.name if face.match.recognized else UNKNOWN), ""

    def _challenge_status(self, face, name: str, now: float) -> ChallengeStatus | None:
        """None once this track has answered for this name; else the challenge's status after this frame."""
        track = self._track(face)
        if track is not None and self._passed == (track, name):
            return None
        failed = self._failed.get(name)
        if failed is not None and now < failed[0]:
            return failed[1]
        if self._challenge is not None and track != self._challenge_track:  # no fresh order by changing tracks
            self._failed[self._challenge_name] = (now + self.cooldown, ChallengeStatus(
                ChallengeState.FAILED, "", 0, self._challenge.actions, "the face being checked went away"))
            self._challenge = None
            return self._challenge_status(face, name, now)
        if self._challenge is None:
            actions = random_actions(self.challenge_steps, self.rng)
            self._challenge = ChallengeSession(actions, self.step_time)
            self._challenge_track, self._challenge_name, self._intruder_frames = track, name, 0
        openness = face.liveness.openness if face.liveness is not None else None
        status = self._feed_challenge(now, face.quality.yaw, openness)
        if status is not None and status.state is ChallengeState.PASSED:
            # the name is announced once frontal frames confirm it again: the turns showed no identity
            self._passed, self._candidate, self._streak = (track, name), None, 0
        return status

    def _feed_challenge(self, now: float, yaw: float | None, openness: float | None = None) -> ChallengeStatus | None:
        """One frame for the running challenge (yaw None: no face); a failure is remembered for its name."""
        if self._challenge is None:
            return None
        status = self._challenge.update(now, yaw, openness)
        if status.finished:
            if status.state is not ChallengeState.PASSED:
                self._failed[self._challenge_name] = (now + self.cooldown, status)
            self._challenge = None
        return status

    def _fail_challenge(self, now: float, face, why: str) -> Announcement | None:
        """Another person's frontal face on the track being challenged: a spoof attempt on the claimed name."""
        claimed = self._challenge_name
        assert self._challenge is not None  # only called while a challenge runs
        status = ChallengeStatus(ChallengeState.FAILED, "", self._challenge.step, self._challenge.actions, why)
        self._failed[claimed] = (now + self.cooldown, status)
        self._challenge, self._candidate, self._streak, self._decision = None, SPOOF, self.frames_to_decide, SPOOF
        reason = f"the challenge was not answered ({why})"
        return self._announce(Announcement(now, SPOOF, face.match.distance, reason, claimed, challenge_failed=True))

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
