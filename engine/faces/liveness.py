"""Is this a live person? Two layers: an active challenge and passive cues.

1. ChallengeSession: asks for a random sequence of actions (blink, turn the head left, turn it right)
   and checks them frame by frame from the head yaw (5 RetinaFace points) and the eye openness (FaceMesh).
   A recorded video of the owner does not know the order, and a wrong turn fails the challenge.
2. PassiveLiveness: signs of a screen or a print on every frame of one tracked face, each with a
   physical reason, combined into one spoof score in 0..1 (spoof at or above a threshold):
   - model: a trained anti-spoofing model (MiniFASNet, engine/faces/antispoof.py) sees a screen or a
     print in the face and its surroundings.
   - screen_frame: a straight edge runs beneath the whole face, often with straight sides beside it
     (a phone's or monitor's border). Behind a live person no straight line can pass under the chin:
     the neck and shoulders are in the way.
   - frozen: the face has not moved at all for seconds; a live face always does a little.
   LivenessMonitor tracks the faces of a stream by box overlap and keeps one PassiveLiveness per face.

A spoof is a result (PassiveVerdict.live is False, with reasons in words), never an exception.
"""
from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np

from .antispoof import AntiSpoofModel
from .detect import Detection
from .landmarks import FaceMesh, eye_openness
from .quality import head_yaw

# ----------------------------------------------------------------------------------------------
# Active challenge


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
TURN_YAW = 0.35  # |head_yaw| beyond this: a clear turn (about 30 degrees; same as quality.MAX_YAW)
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

    def update_face(self, timestamp: float, detection: Detection | None, mesh: FaceMesh | None) -> ChallengeStatus:
        """Convenience: the yaw from the detection's 5 points, the eye openness from the mesh."""
        if detection is None:
            return self.update(timestamp, None, None)
        return self.update(timestamp, head_yaw(detection.landmarks), eye_openness(mesh) if mesh else None)

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


# ----------------------------------------------------------------------------------------------
# Passive cues

VIEW_PX = 40  # pixels per face width in the face-aligned view where straight edges are searched
VIEW_LEFT, VIEW_RIGHT, VIEW_UP, VIEW_DOWN = 2.5, 2.5, 2.0, 3.2  # extent of that view, in face widths
MIN_LINE = 0.8  # shortest straight segment considered, in face widths
LINE_TILT = 20.0  # degrees a border may deviate from the face's horizontal or vertical

# The combined spoof score is 1 - prod(1 - weight * evidence) (each cue an independent chance that the face
# is a spoof); a cue whose weight is below the threshold cannot call a spoof alone, but lowers the model's
# bar: with a frame's corner under the face the model's live score must reach 0.4 instead of 0.04. Measured
# with bench/liveness.py (README): the border fires on 92-100 % of replay frames and 0-11 % of live ones;
# frozen on no live frame. Two earlier cues were dropped as noise: optical-flow planarity fired on 14-29 % of
# live frames and 0-19 % of replay frames, moire on 1 % of live and no replay frames.
CUE_WEIGHTS = {"model": 1.0, "screen_frame": 0.9, "frozen": 0.4}
# The operating point: 5 % of the faces of LFW View-1 DevTrain's images (bona fide stills, people disjoint
# from DevTest's) score at or above it (`python bench/liveness.py --fit`).
DEFAULT_THRESHOLD = 0.96
CUE_REASONS = {
    "model": "a trained anti-spoofing model sees a screen or a print",
    "screen_frame": "a straight border around the face, like a screen's or a photo's edge",
    "frozen": "the face has not moved at all for seconds",
}
HISTORY_S = 2.0  # the cues that need motion look this far back
SMOOTHING_FRAMES = 15  # the verdict is on the mean score of this many recent frames


@dataclass(frozen=True)
class Cue:
    name: str
    evidence: float | None  # 0 (looks live) .. 1 (looks like a spoof); None: cannot tell from this frame
    reason: str = ""  # words shown when the evidence counts


@dataclass(frozen=True)
class PassiveVerdict:
    score: float  # smoothed spoof score, 0..1
    live: bool
    reasons: tuple[str, ...]
    cues: dict[str, float | None] = field(default_factory=dict)  # this frame's evidence per cue
    frame_score: float = 0.0  # this frame's combined score before smoothing

    def why(self) -> str:
        """The reasons in one line (the score when no single cue stands out)."""
        return "; ".join(self.reasons) or f"spoof score {self.score:.2f}"


def face_view(gray: np.ndarray, detection: Detection) -> tuple[np.ndarray, np.ndarray]:
    """The face and its surroundings, upright (eyes level), VIEW_PX pixels per face width,
    with the mask of pixels that lie inside the image."""
    x1, y1, x2, y2 = detection.box
    width = max(x2 - x1, 1.0)
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    left_eye, right_eye = detection.landmarks[0], detection.landmarks[1]
    angle = np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])
    across = np.array([np.cos(angle), np.sin(angle)])
    down = np.array([-np.sin(angle), np.cos(angle)])
    to_image = np.zeros((2, 3))
    to_image[:, 0] = across * width / VIEW_PX
    to_image[:, 1] = down * width / VIEW_PX
    to_image[:, 2] = centre - VIEW_LEFT * width * across - VIEW_UP * width * down
    size = (int((VIEW_LEFT + VIEW_RIGHT) * VIEW_PX), int((VIEW_UP + VIEW_DOWN) * VIEW_PX))
    flags = cv2.WARP_INVERSE_MAP | cv2.INTER_AREA
    # replicated borders: the image's own edge must not look like a straight border around the face
    view = cv2.warpAffine(gray, to_image, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.full(gray.shape, 255, np.uint8), to_image, size, flags=flags) > 250
    inside = cv2.erode(inside.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return view, inside


def border_segments(gray: np.ndarray, detection: Detection) -> dict[str, list[np.ndarray]]:
    """Straight edges that may frame the face: side name -> segments [[x0, y0], [x1, y1]] in face
    widths from the face's centre (x across, y down the face).

    below / above: a near-horizontal segment that passes under (over) the whole face;
    left / right: a near-vertical segment beside the whole face, clear of its outline.
    """
    view, inside = face_view(gray, detection)
    edges = cv2.Canny(cv2.GaussianBlur(view, (3, 3), 0), 40, 120)
    edges[~inside] = 0
    segments = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=30, minLineLength=int(MIN_LINE * VIEW_PX), maxLineGap=10)
    found: dict[str, list[np.ndarray]] = {}
    for x1, y1, x2, y2 in ([] if segments is None else segments[:, 0]):
        ends = np.array([[x1, y1], [x2, y2]]) / VIEW_PX - [VIEW_LEFT, VIEW_UP]
        xs, ys = ends[:, 0], ends[:, 1]
        tilt = np.degrees(np.arctan2(np.ptp(ys), np.ptp(xs)))
        side = None
        if tilt <= LINE_TILT and xs.min() <= -0.5 and xs.max() >= 0.5:
            side = "below" if 0.65 <= ys.mean() <= 3.0 else "above" if -2.0 <= ys.mean() <= -0.75 else None
        elif tilt >= 90 - LINE_TILT and ys.min() <= -0.3 and ys.max() >= 0.5:
            side = "left" if -2.4 <= xs.mean() <= -0.75 else "right" if 0.75 <= xs.mean() <= 2.4 else None
        if side:
            found.setdefault(side, []).append(ends)
    return found


CORNER_GAP = 0.3  # face widths: a side and the line below meet when their ends are this close


def meets(side: np.ndarray, below: np.ndarray) -> bool:
    """Do a vertical segment and a horizontal one form a corner (an end of each close to the other line)?"""
    side_x, side_bottom = side[:, 0].mean(), side[:, 1].max()
    below_y, below_x0, below_x1 = below[:, 1].mean(), below[:, 0].min(), below[:, 0].max()
    reaches_down = abs(side_bottom - below_y) <= CORNER_GAP
    reaches_across = below_x0 - CORNER_GAP <= side_x <= below_x1 + CORNER_GAP
    return reaches_down and reaches_across


def screen_frame_cue(gray: np.ndarray, detection: Detection) -> Cue:
    """A corner of a frame under the face (a side meeting the line below it) is a screen's or a print's
    border. A line below alone is weaker: a desk, a podium or crossed arms can make one."""
    segments = border_segments(gray, detection)
    below = segments.get("below", [])
    sides = segments.get("left", []) + segments.get("right", [])
    if any(meets(side, line) for side in sides for line in below):
        evidence = 1.0
    elif below:
        evidence = 0.5
    else:
        evidence = 0.0
    words = ", ".join(sorted(segments)) or "none"
    return Cue("screen_frame", evidence, f"{CUE_REASONS['screen_frame']} ({words})")


@dataclass
class _Sample:
    timestamp: float
    points: np.ndarray  # (N, 2) face points, image pixels
    width: float


FROZEN_MOTION = 0.004  # face widths: points that moved less than this over HISTORY_S are frozen


def frozen_cue(history: deque[_Sample], now: _Sample) -> Cue:
    if not history or now.timestamp - history[0].timestamp < HISTORY_S * 0.9:
        return Cue("frozen", None)
    stack = np.stack([s.points for s in history])
    spread = float(np.max(np.linalg.norm(stack - stack.mean(axis=0), axis=2).mean(axis=1)))
    evidence = 1.0 if spread < FROZEN_MOTION * now.width else 0.0
    return Cue("frozen", evidence, "the face has not moved at all for seconds")


def model_cue(live_probability: float | None) -> Cue:
    if live_probability is None:
        return Cue("model", None)
    return Cue("model", 1.0 - float(live_probability), f"{CUE_REASONS['model']}: {live_probability:.2f} live")


def combine(cues: list[Cue]) -> float:
    keep_live = 1.0
    for cue in cues:
        if cue.evidence is not None:
            keep_live *= 1.0 - CUE_WEIGHTS[cue.name] * cue.evidence
    return 1.0 - keep_live


class PassiveLiveness:
    """Passive cues of one face over consecutive frames (feed the same person's face each time).

    The verdict of a frame is on the mean score of the last SMOOTHING_FRAMES frames; a whole clip's
    verdict (the CLI's) is on the mean of every frame's score (`overall_score`).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD):
        self.threshold = threshold
        self.history: deque[_Sample] = deque()
        self.scores: deque[float] = deque(maxlen=SMOOTHING_FRAMES)
        self.evidence: dict[str, list[float]] = {name: [] for name in CUE_WEIGHTS}  # every frame's, for reports
        self.frame_scores: list[float] = []
        self.last_reasons: tuple[str, ...] = ()

    def update(self, gray: np.ndarray, detection: Detection, mesh: FaceMesh | None, timestamp: float,
               live_probability: float | None = None) -> PassiveVerdict:
        """gray: the whole frame (uint8, one channel); mesh optional (motion cues need it); live_probability:
        the anti-spoofing model's score of this face on this frame (None: no model)."""
        cues = [model_cue(live_probability), screen_frame_cue(gray, detection)]
        if mesh is not None:
            now = _Sample(timestamp, mesh.points[:, :2].astype(np.float64), float(detection.width))
            while self.history and timestamp - self.history[0].timestamp > HISTORY_S:
                self.history.popleft()
            cues.append(frozen_cue(self.history, now))
            self.history.append(now)
        for cue in cues:
            if cue.evidence is not None:
                self.evidence[cue.name].append(cue.evidence)
        frame_score = combine(cues)
        self.scores.append(frame_score)
        self.frame_scores.append(frame_score)
        score = float(np.mean(self.scores))
        reasons = tuple(c.reason for c in cues if c.evidence is not None and CUE_WEIGHTS[c.name] * c.evidence >= 0.3)
        if reasons or score < self.threshold:  # a spoof verdict keeps the reasons of the frames that made it
            self.last_reasons = reasons
        return PassiveVerdict(score, score < self.threshold, self.last_reasons,
                              {c.name: c.evidence for c in cues}, frame_score)

    def overall_score(self) -> float:
        return float(np.mean(self.frame_scores)) if self.frame_scores else 0.0

    def overall_reasons(self) -> list[str]:
        """Each cue that counted on at least a fifth of the frames, with that share (the model with its mean score)."""
        reasons = []
        for name, values in self.evidence.items():
            counted = np.mean([CUE_WEIGHTS[name] * v >= 0.3 for v in values]) if values else 0.0
            if counted >= 0.2:
                score = f" ({1 - np.mean(values):.2f} live on average)" if name == "model" else ""
                share = f" on {counted:.0%} of the frames" if len(values) > 1 else ""
                reasons.append(f"{CUE_REASONS[name]}{score}{share}")
        return reasons


# ----------------------------------------------------------------------------------------------
# Several faces of a stream


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class FaceTrack:
    track_id: int
    box: np.ndarray
    last_seen: float
    passive: PassiveLiveness
    frames: int = 0


SETTLED_FRAMES = 10  # a track's verdict counts once this many of its frames were judged


@dataclass(frozen=True)
class TrackedVerdict:
    track_id: int
    detection: Detection
    verdict: PassiveVerdict
    openness: float | None = None  # eye openness from the mesh (the challenge's blink), None without a mesh
    frames: int = 1  # frames of this track so far, this one included (the verdict firms up over SMOOTHING_FRAMES)

    @property
    def settled(self) -> bool:
        """Enough frames of this face were judged for its verdict to count (decisions wait until then)."""
        return self.frames >= SETTLED_FRAMES


MIN_IOU = 0.3
TRACK_TIMEOUT_S = 1.0


class LivenessMonitor:
    """Passive liveness for every face of a stream; faces are followed from frame to frame by box overlap."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, mesh_model=None, antispoof: AntiSpoofModel | None = None):
        self.threshold = threshold
        self.mesh_model = mesh_model  # landmarks.FaceMeshModel, or None for the single-frame cues only
        self.antispoof = antispoof  # the trained model, or None for the hand-made cues only
        self.tracks: list[FaceTrack] = []
        self._next_id = 0

    def set_threshold(self, threshold: float) -> None:
        """A new spoof-score threshold, for the faces followed now and the next ones."""
        self.threshold = threshold
        for track in self.tracks:
            track.passive.threshold = threshold

    def update(self, image_rgb: np.ndarray, detections: list[Detection], timestamp: float) -> list[TrackedVerdict]:
        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        self.tracks = [t for t in self.tracks if timestamp - t.last_seen <= TRACK_TIMEOUT_S]
        live = self.antispoof.live_scores(image_rgb, detections) if self.antispoof else [None] * len(detections)
        results = []
        for (detection, track), live_probability in zip(self._assign(detections), live):
            if track is None:
                track = FaceTrack(self._next_id, detection.box, timestamp, PassiveLiveness(self.threshold))
                self._next_id += 1
                self.tracks.append(track)
            track.box, track.last_seen, track.frames = detection.box, timestamp, track.frames + 1
            mesh = self.mesh_model.mesh(image_rgb, detection) if self.mesh_model is not None else None
            verdict = track.passive.update(gray, detection, mesh, timestamp, live_probability)
            openness = eye_openness(mesh) if mesh else None
            results.append(TrackedVerdict(track.track_id, detection, verdict, openness, track.frames))
        return results

    def _assign(self, detections: list[Detection]) -> list[tuple[Detection, FaceTrack | None]]:
        """Greedy matching, best overlap first; a detection without a partner starts a new track."""
        pairs = sorted(((box_iou(d.box, t.box), i, j) for i, d in enumerate(detections)
                        for j, t in enumerate(self.tracks)), reverse=True)
        taken_d, taken_t, match = set(), set(), {}
        for iou, i, j in pairs:
            if iou >= MIN_IOU and i not in taken_d and j not in taken_t:
                taken_d.add(i)
                taken_t.add(j)
                match[i] = self.tracks[j]
        return [(d, match.get(i)) for i, d in enumerate(detections)]


# ----------------------------------------------------------------------------------------------
# A whole clip (the CLI, the benchmark and the tests)

MIN_TRACK_FRAMES = 5  # shorter tracks in a video are detector flickers, not judged


@dataclass(frozen=True)
class TrackReport:
    """The passive verdict on one face followed through a clip (or the one frame of an image)."""

    track_id: int
    frames: int
    first_frame: int
    mean_box: np.ndarray  # x1, y1, x2, y2 averaged over the track
    score: float  # mean spoof score over the track's frames
    live: bool
    reasons: tuple[str, ...]
    frame_live: tuple[bool, ...]  # the smoothed per-frame verdicts, as a live view would show them
    evidence: dict[str, list[float]]


def assess_frames(frames, detector, mesh_model=None, threshold: float = DEFAULT_THRESHOLD,
                  min_frames: int = MIN_TRACK_FRAMES, antispoof: AntiSpoofModel | None = None
                  ) -> tuple[list[TrackReport], int]:
    """frames: iterable of (index, timestamp_s, rgb). Returns the judged tracks and how many tracks
    were too short to judge. A single image is judged with min_frames=1."""
    monitor = LivenessMonitor(threshold, mesh_model, antispoof)
    seen: dict[int, dict] = {}
    for index, timestamp, image in frames:
        for result in monitor.update(image, detector.detect(image), timestamp):
            record = seen.setdefault(result.track_id, {"first": index, "boxes": [], "live": []})
            record["boxes"].append(result.detection.box)
            record["live"].append(result.verdict.live)
        for track in monitor.tracks:
            seen[track.track_id]["passive"] = track.passive
    reports, too_short = [], 0
    for track_id, record in sorted(seen.items()):
        if len(record["boxes"]) < min_frames:
            too_short += 1
            continue
        passive: PassiveLiveness = record["passive"]
        score = passive.overall_score()
        reports.append(TrackReport(track_id, len(record["boxes"]), record["first"], np.mean(record["boxes"], axis=0),
                                   score, score < threshold, tuple(passive.overall_reasons()),
                                   tuple(record["live"]), passive.evidence))
    return reports, too_short
