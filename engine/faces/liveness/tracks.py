"""The faces of a stream followed by box overlap, one PassiveLiveness each; and a whole clip judged per track."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..antispoof import AntiSpoofModel
from ..detect import Detection
from ..landmarks import eye_openness
from .cues import DEFAULT_THRESHOLD, PassiveLiveness, PassiveVerdict


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
