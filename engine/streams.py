"""Stream decisions: what the camera's faces are, decided per face track on the pipeline thread, once.

Each frame's observations go in; out comes one FaceDecision per face, with a typed Kind. The camera view
draws it, the Recognize log and `watch` print it, and Recognizer.announce logs and publishes it: the same
object everywhere, so the screen can never say more than the log.

A track's decision needs `frames_to_decide` consecutive frames that agree; until then, and while its passive
liveness has not settled, the face is CHECKING (drawn neutral, without a name). A new visit (a decision not
seen for longer than the cooldown) is announced once; while it lasts only its last-seen time moves.

Liveness, by mode (engine.config.LIVENESS_MODES):
- "off": every face is taken at face value;
- "passive": a face whose track the passive cues call a spoof is SPOOF, with the reasons;
- "passive+challenge": in addition, a recognised face must answer a random challenge (blink, turn left,
  turn right) before its name is shown. One challenge runs at a time, for the first face that claims a name;
  the pass belongs to that face track *and* that name. While it runs, frontal frames of anyone else on that
  track fail it (an attacker cannot show the owner's print, then do the turns with their own face), and only
  the turns it asks for may hide the face from the encoder. A failed, timed-out or abandoned challenge makes
  the claimed name CHALLENGE_FAILED for the cooldown, whatever track claims it (no re-rolling the order).
  Strangers are not challenged: there is nothing to open for them.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from .errors import LikenessError
from .faces.liveness import ChallengeSession, ChallengeState, ChallengeStatus, random_actions
from .faces.liveness.tracks import MIN_IOU, TRACK_TIMEOUT_S, box_iou
from .pipeline import FaceObservation


class Kind(Enum):
    """What a face is, as decided. `event` is the kind of the logged event (None: nothing to log)."""

    CHECKING = "checking"  # its liveness has not settled, or too few frames agree yet
    NO_GALLERY = "no gallery"  # nobody is enrolled to compare it with
    TURNED = "turned away"  # a profile: the encoder cannot say who it is
    RECOGNIZED = "recognized"  # a live, enrolled person
    UNKNOWN = "unknown"  # a live stranger
    SPOOF = "spoof"  # the passive cues see a photo or a screen
    CHALLENGE_RUNNING = "challenge running"
    CHALLENGE_PASSED = "challenge passed"  # the name follows once frontal frames confirm it
    CHALLENGE_FAILED = "challenge failed"
    VERIFIED = "verified"
    REJECTED = "rejected"

    @property
    def event(self) -> str | None:
        return _EVENTS.get(self)

    @property
    def colour(self) -> str:
        return COLOURS[self]


_EVENTS = {Kind.RECOGNIZED: "recognized", Kind.UNKNOWN: "unknown", Kind.SPOOF: "spoof",
           Kind.CHALLENGE_FAILED: "challenge_failed", Kind.VERIFIED: "verified", Kind.REJECTED: "rejected"}

# The one colour rule: the drawing uses it and README's legend states it (tests/test_streams.py checks both).
NEUTRAL, GREEN, RED, YELLOW, ORANGE = "#bdc3c7", "#2ecc71", "#e74c3c", "#f1c40f", "#e67e22"
COLOURS = {Kind.CHECKING: NEUTRAL, Kind.CHALLENGE_RUNNING: NEUTRAL, Kind.CHALLENGE_PASSED: NEUTRAL,
           Kind.NO_GALLERY: YELLOW, Kind.TURNED: YELLOW, Kind.RECOGNIZED: GREEN, Kind.VERIFIED: GREEN,
           Kind.UNKNOWN: RED, Kind.REJECTED: RED, Kind.SPOOF: ORANGE, Kind.CHALLENGE_FAILED: ORANGE}
COLOUR_NAMES = {NEUTRAL: "grey", GREEN: "green", RED: "red", YELLOW: "yellow", ORANGE: "orange"}


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
class FaceDecision:
    """One face's decision. name: the person recognised or verified (never set for any other kind);
    claimed: the enrolled person a spoof or a failed challenge looked like."""

    kind: Kind
    track: int
    box: np.ndarray
    time: float  # the frame's timestamp (s)
    name: str | None = None
    claimed: str | None = None
    distance: float | None = None
    margin: float | None = None
    probability: float | None = None  # P(same person) when a pair classifier decides
    spoof_score: float | None = None  # the passive spoof score (0 live .. 1 spoof); None without liveness
    reasons: tuple[str, ...] = ()
    prompt: str = ""  # what the person is asked to do now
    visit: int | None = None  # the visit (log row) this decision belongs to
    face: FaceObservation | None = field(default=None, compare=False, repr=False)  # what it was decided on

    @property
    def colour(self) -> str:
        return self.kind.colour

    @property
    def label(self) -> str:
        """The words drawn on the face. Only a green (recognised or verified) face carries a name."""
        kind = self.kind
        if kind in (Kind.RECOGNIZED, Kind.VERIFIED):
            probability = f" p={self.probability:.2f}" if self.probability is not None else ""
            margin = f"  margin {self.margin:.2f}" if self.margin is not None else ""
            return f"{self.name}  d={self.distance:.2f}{probability}{margin}"
        if kind is Kind.UNKNOWN:
            return f"unknown  d={self.distance:.2f} to the closest"
        return {Kind.CHECKING: "checking…", Kind.NO_GALLERY: "face (nobody enrolled yet)",
                Kind.TURNED: "turned away", Kind.SPOOF: "spoof suspected",
                Kind.CHALLENGE_RUNNING: self.prompt or "checking…",
                Kind.CHALLENGE_PASSED: "challenge passed: look at the camera",
                Kind.CHALLENGE_FAILED: "spoof suspected (challenge failed)",
                Kind.REJECTED: "rejected"}[kind]

    @property
    def headline(self) -> str:
        """The big line of the kiosk for this face."""
        if self.kind is Kind.RECOGNIZED:
            return str(self.name)
        return {Kind.UNKNOWN: "not recognized", Kind.SPOOF: "spoof suspected",
                Kind.CHALLENGE_FAILED: "spoof suspected", Kind.CHALLENGE_RUNNING: self.prompt}.get(self.kind, "")

    @property
    def note(self) -> str:
        """Why, for the log: who a spoof looked like and the reasons."""
        if self.kind in (Kind.SPOOF, Kind.CHALLENGE_FAILED):
            return f"looked like {self.claimed or 'a stranger'}: {'; '.join(self.reasons)}"
        return "; ".join(self.reasons)


# The kiosk's big line speaks of one face: the one asked to act, else a recognised one (the door's answer), else
# a spoof, else a stranger, else the largest face.
HEADLINE_ORDER = (Kind.CHALLENGE_RUNNING, Kind.RECOGNIZED, Kind.CHALLENGE_FAILED, Kind.SPOOF, Kind.UNKNOWN)


def headline_of(decisions: list[FaceDecision]) -> FaceDecision | None:
    """The decision the kiosk's big line shows, among one frame's (largest face first); a spoof banner never
    stands over a green name."""
    ranked = [d for kind in HEADLINE_ORDER for d in decisions if d.kind is kind]
    return ranked[0] if ranked else (decisions[0] if decisions else None)


@dataclass(frozen=True)
class StreamUpdate:
    """One frame's decisions: one per face (in the faces' order), the new visits among them, and the
    last-seen time of every open visit."""

    decisions: tuple[FaceDecision, ...] = ()
    announced: tuple[FaceDecision, ...] = ()
    visits: dict = field(default_factory=dict)  # visit -> last seen (s)
    headline: FaceDecision | None = None  # the face the kiosk's big line speaks of (headline_of)


@dataclass
class _Track:
    last_seen: float
    candidate: tuple | None = None  # (Kind, name) of the frames agreeing so far
    streak: int = 0
    decided: FaceDecision | None = None


@dataclass
class _Visit:
    number: int
    last_seen: float


class Tracker:
    """Track ids for faces: the liveness monitor's when it follows them, else by box overlap here."""

    def __init__(self):
        self._boxes: dict[int, tuple[np.ndarray, float]] = {}
        self._ids = itertools.count()

    def ids(self, faces, now: float) -> list[int]:
        if faces and all(face.liveness is not None for face in faces):
            return [face.liveness.track_id for face in faces]
        self._boxes = {t: (box, seen) for t, (box, seen) in self._boxes.items() if now - seen <= TRACK_TIMEOUT_S}
        pairs = sorted(((box_iou(face.box, box), i, t) for i, face in enumerate(faces)
                        for t, (box, _) in self._boxes.items()), key=lambda p: p[0], reverse=True)
        ids: dict[int, int] = {}
        for iou, i, t in pairs:
            if iou >= MIN_IOU and i not in ids and t not in ids.values():
                ids[i] = t
        result = [ids[i] if i in ids else -1 - next(self._ids) for i in range(len(faces))]  # own ids < 0
        for face, t in zip(faces, result):
            self._boxes[t] = (face.box, now)
        return result


class IdentifyStream:
    """Who every face of a stream is, decided per track over frames (see the module's docstring)."""

    def __init__(self, liveness: str = "off", frames_to_decide: int = 3, cooldown: float = 5.0,
                 challenge_steps: int = 2, step_time: float = 5.0, rng: random.Random | None = None):
        self.liveness, self.frames_to_decide, self.cooldown = liveness, frames_to_decide, cooldown
        self.challenge_steps, self.step_time, self.rng = challenge_steps, step_time, rng
        self._tracker = Tracker()
        self._tracks: dict[int, _Track] = {}
        self._visits: dict[tuple, _Visit] = {}
        self._visit_numbers = itertools.count(1)
        self._challenge: ChallengeSession | None = None
        self._challenge_track: int | None = None
        self._challenge_name: str | None = None
        self._intruder_frames = 0  # consecutive frontal frames of someone else on the track being challenged
        self._passed: set[tuple[int, str]] = set()  # (track, name) that answered its challenge
        self._failed: dict[str, tuple[float, ChallengeStatus]] = {}  # claimed name -> (until, why)
        self._holding = False  # see hold_challenges

    @classmethod
    def from_settings(cls, settings, liveness: str) -> IdentifyStream:
        kiosk = settings.kiosk
        return cls(liveness, kiosk.frames_to_decide, kiosk.cooldown, settings.liveness.challenge_steps,
                   settings.liveness.step_time)

    def hold_challenges(self, hold: bool) -> None:
        """While another check asks the person to act (a camera verification), start no challenge here and drop
        the one running, without failing it: two random orders at once would fail each other."""
        self._holding = hold
        if hold and self._challenge is not None:
            track = self._tracks.get(self._challenge_track) if self._challenge_track is not None else None
            if track is not None:
                track.candidate, track.streak, track.decided = None, 0, None
            self._challenge, self._challenge_track, self._challenge_name = None, None, None

    @property
    def prompt(self) -> str:
        """What the person being challenged is asked to do now ("" when nothing is asked)."""
        challenge = self._challenge
        if challenge is None or challenge.status.finished:
            return ""
        return f"Please {challenge.status.prompt} ({challenge.status.step + 1}/{len(challenge.actions)})"

    def update(self, faces, now: float) -> StreamUpdate:
        """Every face of one frame (FaceObservations, largest first) with the frame's time in seconds."""
        track_ids = self._tracker.ids(faces, now)
        for track_id in track_ids:
            self._tracks.setdefault(track_id, _Track(now)).last_seen = now
        self._forget(now)
        labels = [self._label(face) for face in faces]
        self._feed_challenge(dict(zip(track_ids, zip(faces, labels))), now)
        decisions = [self._decide(face, t, label, now) for face, t, label in zip(faces, track_ids, labels)]
        decisions, announced = self._visited(decisions, now)
        open_visits = {v.number: v.last_seen for v in self._visits.values()}
        return StreamUpdate(tuple(decisions), tuple(announced), open_visits, headline_of(decisions))

    def _forget(self, now: float) -> None:
        """Drop what can no longer matter (a door runs for months): gone tracks, their passes, expired failures,
        visits over."""
        self._tracks = {t: track for t, track in self._tracks.items() if now - track.last_seen <= TRACK_TIMEOUT_S}
        self._passed = {(t, name) for t, name in self._passed if t in self._tracks}
        self._failed = {name: failed for name, failed in self._failed.items() if now < failed[0]}
        self._visits = {key: visit for key, visit in self._visits.items() if now - visit.last_seen <= self.cooldown}

    # --- one frame of one face ---------------------------------------------------------------------
    def _label(self, face) -> tuple[Kind, str | None, tuple[str, ...]]:
        """What this frame alone says of the face: (kind, name or claimed name, reasons)."""
        live, why = liveness_of(face, self.liveness)
        match = face.match
        claimed = match.name if match is not None and match.recognized else None
        if live is None:
            return Kind.CHECKING, None, ()
        if not live:
            return Kind.SPOOF, claimed, (why,)
        if match is None:
            return Kind.NO_GALLERY, None, ()
        if not face.quality.frontal:
            return Kind.TURNED, None, ()
        return (Kind.RECOGNIZED, claimed, ()) if claimed is not None else (Kind.UNKNOWN, None, ())

    def _decide(self, face, track_id: int, label, now: float) -> FaceDecision:
        track = self._tracks[track_id]
        kind, name, reasons = label
        if track_id == self._challenge_track and self._challenge is not None:
            return self._decision(Kind.CHALLENGE_RUNNING, face, track_id, now, prompt=self.prompt)
        if kind in (Kind.CHECKING, Kind.NO_GALLERY):
            track.candidate, track.streak, track.decided = None, 0, None
            return self._decision(kind, face, track_id, now)
        if kind is Kind.TURNED:  # a profile neither votes nor breaks the vote; a spoof stays one
            decided = track.decided
            if decided is not None and decided.kind in (Kind.SPOOF, Kind.CHALLENGE_FAILED):
                return replace(decided, box=face.box, time=now, face=face)
            return self._decision(Kind.TURNED, face, track_id, now)
        track.streak = track.streak + 1 if track.candidate == (kind, name) else 1
        track.candidate = (kind, name)
        if track.streak >= self.frames_to_decide:
            track.decided = self._settled(face, track_id, kind, name, reasons, now)
        if track.decided is None:
            return self._decision(Kind.CHECKING, face, track_id, now)
        return replace(track.decided, box=face.box, time=now, face=face)

    def _settled(self, face, track_id: int, kind: Kind, name: str | None, reasons, now: float) -> FaceDecision:
        """The decision of a track whose frames agree on (kind, name)."""
        if kind is Kind.SPOOF:
            return self._decision(kind, face, track_id, now, claimed=name, reasons=reasons)
        if kind is Kind.UNKNOWN or self.liveness != "passive+challenge":
            return self._decision(kind, face, track_id, now, name=name)
        assert name is not None  # recognised
        failed = self._failed.get(name)
        if failed is not None and now < failed[0]:
            return self._failed_decision(face, track_id, name, failed[1].reason, now)
        if (track_id, name) in self._passed:
            return self._decision(kind, face, track_id, now, name=name)
        if self._challenge is None and not self._holding:
            self._challenge = ChallengeSession(random_actions(self.challenge_steps, self.rng), self.step_time)
            self._challenge_track, self._challenge_name, self._intruder_frames = track_id, name, 0
            return self._decision(Kind.CHALLENGE_RUNNING, face, track_id, now, prompt=self.prompt)
        return self._decision(Kind.CHECKING, face, track_id, now, reasons=("another check is running",))

    def _decision(self, kind: Kind, face, track_id: int, now: float, **fields) -> FaceDecision:
        match, tracked = face.match, face.liveness
        numbers = {}
        if match is not None and kind not in (Kind.CHECKING, Kind.NO_GALLERY, Kind.TURNED,
                                              Kind.CHALLENGE_RUNNING, Kind.CHALLENGE_PASSED):
            margin = match.margin if np.isfinite(match.margin) else None
            numbers = {"distance": float(match.distance), "probability": match.probability,
                       "margin": float(margin) if margin is not None and kind is Kind.RECOGNIZED else None}
        score = float(tracked.verdict.score) if tracked is not None and tracked.settled else None
        return FaceDecision(kind, track_id, face.box, now, spoof_score=score, face=face, **numbers, **fields)

    def _failed_decision(self, face, track_id: int, name: str, why: str, now: float) -> FaceDecision:
        return self._decision(Kind.CHALLENGE_FAILED, face, track_id, now, claimed=name,
                              reasons=(f"the challenge was not answered ({why})",))

    # --- the challenge ----------------------------------------------------------------------------
    def _feed_challenge(self, by_track: dict, now: float) -> None:
        """One frame for the running challenge: the face on its track (or none), unless one odd frontal frame
        shows somebody else; a finished challenge passes (track, name) or fails the name."""
        if self._challenge is None:
            return
        face, label = by_track.get(self._challenge_track, (None, None))
        if face is None:
            return self._finish_challenge(self._challenge.update(now, None, None), now)
        kind, name, _ = label
        someone_else = kind in (Kind.RECOGNIZED, Kind.UNKNOWN) and name != self._challenge_name
        self._intruder_frames = self._intruder_frames + 1 if someone_else else 0
        if self._intruder_frames >= self.frames_to_decide:  # as many frames as any decision needs
            who = name or "a stranger"
            status = ChallengeStatus(ChallengeState.FAILED, "", self._challenge.step, self._challenge.actions,
                                     f"another face ({who}) took the place of {self._challenge_name}")
            return self._finish_challenge(status, now)
        if someone_else:
            return None  # one odd frame (blur, a blink) neither counts nor breaks the challenge
        openness = face.liveness.openness if face.liveness is not None else None
        self._finish_challenge(self._challenge.update(now, face.quality.yaw, openness), now)

    def _finish_challenge(self, status: ChallengeStatus, now: float) -> None:
        if not status.finished:
            return
        name, track_id = self._challenge_name, self._challenge_track
        assert name is not None and track_id is not None  # set with the challenge
        self._challenge, self._challenge_track, self._challenge_name = None, None, None
        track = self._tracks.get(track_id)
        if status.state is ChallengeState.PASSED:
            self._passed.add((track_id, name))  # the turns showed no identity: frontal frames confirm it first
            if track is not None and track.decided is not None:
                track.candidate, track.streak = None, 0
                track.decided = replace(track.decided, kind=Kind.CHALLENGE_PASSED, prompt="")
            return
        self._failed[name] = (now + self.cooldown, status)
        if track is not None and track.decided is not None:
            face = track.decided.face
            track.decided = self._failed_decision(face, track_id, name, status.reason, now)
            track.candidate, track.streak = (Kind.RECOGNIZED, name), self.frames_to_decide

    # --- visits -------------------------------------------------------------------------------------
    def _visited(self, decisions: list[FaceDecision], now: float) -> tuple[list[FaceDecision], list[FaceDecision]]:
        """Each decision with its visit; the decisions that start a visit (a kind and person not seen for longer
        than the cooldown; a stranger or an unnamed spoof is one visit per track)."""
        out, announced = [], []
        for decision in decisions:
            if decision.kind.event is None:
                out.append(decision)
                continue
            who = decision.name or decision.claimed
            key = (decision.kind, who) if who is not None else (decision.kind, "track", decision.track)
            visit = self._visits.get(key)
            new = visit is None or now - visit.last_seen > self.cooldown
            if new:
                visit = self._visits[key] = _Visit(next(self._visit_numbers), now)
            assert visit is not None
            visit.last_seen = now
            decision = replace(decision, visit=visit.number)
            out.append(decision)
            if new:
                announced.append(decision)
        return out, announced


@dataclass(frozen=True)
class VerifyUpdate:
    """Where a camera verification stands: kind CHECKING or CHALLENGE_RUNNING while it runs; VERIFIED, REJECTED,
    SPOOF or CHALLENGE_FAILED once decided (finished; a check that stops undecided is finished CHECKING)."""

    kind: Kind
    claim: str
    message: str  # in words: the request, the evidence or why it stopped
    face: FaceObservation | None = field(default=None, compare=False, repr=False)
    finished: bool = False


VERIFY_TIMEOUT_S = 10.0  # a camera check with no steady answer after this long stops and says so


class VerifyStream:
    """Is the face in front of the camera the person it claims to be? Follows the face of the first frame
    (the largest) on its track; with a challenge, the challenge first; then, once its liveness has settled,
    decides when `frames_to_decide` consecutive frontal frames give the same answer, recording the decision
    through the recognizer."""

    def __init__(self, recognizer, claim: str, liveness: str, challenge_steps: int = 2, step_time: float = 5.0,
                 source: str = "window", rng: random.Random | None = None, frames_to_decide: int = 3):
        self.recognizer, self.claim, self.liveness, self.source = recognizer, claim, liveness, source
        self.challenge = (ChallengeSession(random_actions(challenge_steps, rng), step_time)
                          if liveness == "passive+challenge" else None)
        self.frames_to_decide = frames_to_decide
        self.track: int | None = None
        self.started = False
        self._answers: list[bool] = []  # the consecutive frames' answers (same person?) so far
        self._comparing_since: float | None = None

    def update(self, faces, now: float) -> VerifyUpdate:
        if not self.started:
            self.started = True
            if not faces:
                return self._said(Kind.CHECKING, "No face in the camera.", None, finished=True)
            self.track = faces[0].liveness.track_id if faces[0].liveness is not None else None
        face = self._face_being_checked(faces)
        if self.challenge is not None:
            openness = face.liveness.openness if face is not None and face.liveness is not None else None
            status = self.challenge.update(now, face.quality.yaw if face is not None else None, openness)
            if not status.finished:
                return self._said(Kind.CHALLENGE_RUNNING, f"Please {status.prompt} ({status.step + 1}/"
                                                          f"{len(status.actions)})", face)
            self.challenge = None
            if status.state is not ChallengeState.PASSED:
                return self._spoof(Kind.CHALLENGE_FAILED, face, f"the challenge was not answered ({status.reason})")
        if face is None:
            return self._said(Kind.CHECKING, "Looking for the face…", None)
        if not face.quality.frontal:  # a turned face cannot be compared: wait for it to face the camera
            return self._said(Kind.CHECKING, "Now look at the camera…", face)
        live, why = liveness_of(face, self.liveness)
        if live is None:
            return self._said(Kind.CHECKING, "Checking that the face is live…", face)
        if not live:
            return self._spoof(Kind.SPOOF, face, why)
        try:
            result = self.recognizer.compare(self.claim, face)
        except LikenessError as error:  # the claimed person was deleted meanwhile
            return self._said(Kind.CHECKING, str(error), face, finished=True)
        self._comparing_since = now if self._comparing_since is None else self._comparing_since
        self._answers = [answer for answer in self._answers if answer == result.same] + [result.same]
        if len(self._answers) < self.frames_to_decide:
            if now - self._comparing_since > VERIFY_TIMEOUT_S:
                return self._said(Kind.CHECKING, "No steady answer: the face changed from frame to frame. Try again, "
                                                 "facing the camera.", face, finished=True)
            return self._said(Kind.CHECKING, "Comparing…", face)
        self.recognizer.record_verification(self.claim, face, result, self.source)
        return self._said(Kind.VERIFIED if result.same else Kind.REJECTED, result.evidence(), face, finished=True)

    def _face_being_checked(self, faces):
        """The face on the track the check began with (the largest face when there is no tracking), or None."""
        for face in faces:
            if self.track is None or (face.liveness is not None and face.liveness.track_id == self.track):
                return face
        return None

    def _spoof(self, kind: Kind, face, reason: str) -> VerifyUpdate:
        self.recognizer.record(kind.event, self.claim, face=face, reasons=(reason,), source=self.source)
        return self._said(kind, reason, face, finished=True)

    def _said(self, kind: Kind, message: str, face, finished: bool = False) -> VerifyUpdate:
        return VerifyUpdate(kind, self.claim, message, face, finished)


@dataclass(frozen=True)
class Observed:
    """One frame of a camera: its faces, the identify stream's decisions and, while one runs, the verification."""

    faces: list
    identify: StreamUpdate
    verify: VerifyUpdate | None = None
    problems: tuple[str, ...] = ()  # decisions that could not be logged, in sentences (they were still made)


class StreamDecisions:
    """The decisions of one camera, made where its frames are observed (the window's pipeline thread, `watch`):
    every face identified, a claim verified when asked; each new decision logged and published through the
    recognizer with `place` ("window", "kiosk" or "watch") as its source."""

    def __init__(self, recognizer, place: str):
        self.recognizer = recognizer
        self.verifying: VerifyStream | None = None
        self.configure(place)

    def configure(self, place: str) -> None:
        """Start over with the recognizer's settings and the liveness mode of `place`."""
        from .recognizer import liveness_mode

        self.place, self.mode = place, liveness_mode(self.recognizer.settings, place)
        self.identify = IdentifyStream.from_settings(self.recognizer.settings, self.mode)
        self.verifying = None

    def verify(self, claim: str | None) -> None:
        """Verify the camera's face against `claim` from the next frame on; None cancels a running check."""
        settings = self.recognizer.settings
        self.verifying = None if claim is None else VerifyStream(
            self.recognizer, claim, self.mode, settings.liveness.challenge_steps, settings.liveness.step_time,
            self.place, frames_to_decide=settings.kiosk.frames_to_decide)
        self.identify.hold_challenges(self.verifying is not None)

    def observe(self, image_rgb: np.ndarray, timestamp: float) -> Observed:
        faces = self.recognizer.observe(image_rgb, timestamp=timestamp)
        update = self.identify.update(faces, timestamp)
        problems = []
        for decision in update.announced:
            try:
                self.recognizer.announce(decision, self.place)
            except LikenessError as error:  # a full disk, a gallery server away: the door still decides
                problems.append(str(error))
        verified = self.verifying.update(faces, timestamp) if self.verifying is not None else None
        if verified is not None and verified.finished:
            self.verifying = None
            self.identify.hold_challenges(False)
        return Observed(faces, update, verified, tuple(problems))
