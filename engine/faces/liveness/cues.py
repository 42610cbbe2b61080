"""Passive cues of one tracked face, each with a physical reason, combined into one spoof score in 0..1:
the trained anti-spoofing model, a screen's or a photo's border beneath the face, a face that never moves."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..detect import Detection
from ..landmarks import FaceMesh
from ..liveness_points import CAMERA_POINT

VIEW_PX = 40  # pixels per face width in the face-aligned view where straight edges are searched
VIEW_LEFT, VIEW_RIGHT, VIEW_UP, VIEW_DOWN = 2.5, 2.5, 2.0, 3.2  # extent of that view, in face widths
MIN_LINE = 0.8  # shortest straight segment considered, in face widths
LINE_TILT = 20.0  # degrees a border may deviate from the face's horizontal or vertical

# The combined spoof score is 1 - prod(1 - weight * evidence) (each cue an independent chance that the face is a
# spoof). The trained model decides; a cue whose weight is below the operating point cannot call a spoof alone but
# raises the model's bar: with a frame's corner under the face the model's live score must be 1 / (1 - 0.3) = 1.4
# times higher. Measured with bench/liveness.py (README): a corner under the face on 56-98 % of replay frames and
# on no frame of a live clip, but on 4-7 % of live web photos and crowd faces (podiums, crossed arms, columns), so
# it may not decide alone; a line below without a side (weight 0.45 before) fired on 11-23 % of live faces and
# 1-36 % of replays and is no evidence. A face cut by the image's border cannot be judged: the model was trained
# on whole faces with their surroundings, and a door needs the whole face anyway. Frozen on no live frame. Two
# earlier cues were dropped as noise: optical-flow planarity fired on 14-29 % of live frames and 0-19 % of replay
# frames, moire on 1 % of live and no replay frames.
CUE_WEIGHTS = {"model": 1.0, "screen_frame": 0.3, "frozen": 0.4, "cut": 1.0}
# The operating point of streams, fitted on camera frames of live people (resources/calibration/liveness.json,
# `python bench/liveness.py --fit`); a still image has its own (liveness_points.STILL_POINT).
DEFAULT_THRESHOLD = CAMERA_POINT.threshold
CUE_REASONS = {
    "model": "a trained anti-spoofing model sees a screen or a print",
    "screen_frame": "a straight border around the face, like a screen's or a photo's edge",
    "frozen": "the face has not moved at all for seconds",
    "cut": "the face is cut by the image's border (the whole face must be in view)",
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
    border. A line below alone is no evidence: a desk, a podium or crossed arms make one as often as a screen."""
    segments = border_segments(gray, detection)
    below = segments.get("below", [])
    sides = segments.get("left", []) + segments.get("right", [])
    evidence = 1.0 if any(meets(side, line) for side in sides for line in below) else 0.0
    words = ", ".join(sorted(segments)) or "none"
    return Cue("screen_frame", evidence, f"{CUE_REASONS['screen_frame']} ({words})")


CUT_MARGIN_PX = 1.0  # a box this close to the image's edge, or beyond it, is cut by the border


def cut_cue(image_shape: tuple[int, ...], detection: Detection) -> Cue:
    """The face's box reaches the image's border: part of the face is out of view."""
    height, width = image_shape[:2]
    x1, y1, x2, y2 = detection.box
    cut = min(x1, y1) <= CUT_MARGIN_PX or x2 >= width - CUT_MARGIN_PX or y2 >= height - CUT_MARGIN_PX
    return Cue("cut", 1.0 if cut else 0.0, CUE_REASONS["cut"])


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
        cues = [model_cue(live_probability), screen_frame_cue(gray, detection), cut_cue(gray.shape, detection)]
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
