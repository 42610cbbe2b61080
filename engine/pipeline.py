"""FacePipeline: image -> faces with their boxes, landmarks, chips, embeddings and (on streams) liveness.

The one way from pixels to faces, under the Recognizer (engine/recognizer.py, which matches them against the
gallery) and in the benchmarks that measure faces alone:
detect -> align -> encode (all faces of a frame as one batch) -> passive liveness of each face's track.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .config import RecognitionSettings
from .errors import FaceTooSmall, NoFace
from .faces.align import ChipTemplate, align_faces
from .faces.antispoof import AntiSpoofModel
from .faces.detect import Detection, FaceDetector
from .faces.encode import FaceEncoder
from .faces.encoders import open_encoder
from .faces.landmarks import FaceMeshModel
from .faces.liveness import LivenessMonitor, TrackedVerdict
from .faces.quality import Quality, assess
from .match import Identification


@dataclass(frozen=True)
class FaceObservation:
    """One face of one image; every array in pixels of that image (box x1, y1, x2, y2)."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float
    chip: np.ndarray
    embedding: np.ndarray
    quality: Quality
    match: Identification | None = None  # set by the Recognizer when it has a gallery
    liveness: TrackedVerdict | None = None  # passive cues of this face's track (streams with liveness on)


# score = area - c * squared offset of the box centre from the image centre (both in px^2, so the rule does
# not depend on the image size); c chosen on LFW View-1 DevTrain by bench/subject_rule.py
SUBJECT_CENTRALITY = 1.0


def subject_index(boxes, image_shape: tuple[int, ...], centrality: float = SUBJECT_CENTRALITY) -> int:
    """Index of a photo's subject among its face boxes (x1, y1, x2, y2 rows): the best box area minus
    `centrality` times the squared distance of the box's centre from the image centre. 0: the largest face."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    height, width = image_shape[:2]
    offset = (boxes[:, :2] + boxes[:, 2:]) / 2 - [width / 2, height / 2]
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return int(np.argmax(area - centrality * np.sum(offset ** 2, axis=1)))


@dataclass(frozen=True)
class PhotoFace:
    """The face taken from a photo (`face`), among every face found in it."""

    faces: tuple[FaceObservation, ...]
    index: int
    rule: str  # "subject" or "largest"

    @property
    def face(self) -> FaceObservation:
        return self.faces[self.index]

    def note(self, where: str) -> str:
        """Which face was taken, in words, when the photo had several; "" when it had one."""
        if len(self.faces) == 1:
            return ""
        x1, y1, x2, y2 = np.round(self.face.box).astype(int)
        how = "the largest" if self.rule == "largest" else "the most central of the large ones"
        return f"{where}: {len(self.faces)} faces found; took {how}, at ({x1}, {y1})-({x2}, {y2})"


def liveness_monitor(threshold: float, use_gpu: bool) -> LivenessMonitor:
    """Passive liveness with its models: FaceMesh (eyes, a frozen face) and the trained anti-spoofing model."""
    return LivenessMonitor(threshold, FaceMeshModel(use_gpu=use_gpu), AntiSpoofModel(use_gpu=use_gpu))


@dataclass
class StageTimes:
    """Milliseconds spent in each stage by the last call of observe()."""

    detect: float = 0.0
    align: float = 0.0
    encode: float = 0.0
    match: float = 0.0
    liveness: float = 0.0
    faces: int = 0


class FacePipeline:
    """Owns the detector, the alignment template, the encoder and passive liveness.

    With a liveness threshold, the frames of a stream (observe with a timestamp) also go through passive
    liveness: each face is followed from frame to frame and carries its track's spoof verdict.
    """

    def __init__(self, settings: RecognitionSettings, detector: FaceDetector | None = None,
                 encoder: FaceEncoder | None = None, template: ChipTemplate | None = None,
                 liveness_threshold: float | None = None):
        self.settings = settings
        self._beside = ThreadPoolExecutor(1, thread_name_prefix="liveness")
        # the encoder's sessions are made while the detector's is (ONNX Runtime frees the GIL): a faster start
        opening = self._beside.submit(lambda: encoder or open_encoder(settings.encoder, use_gpu=settings.use_gpu))
        self.detector = detector or FaceDetector(
            use_gpu=settings.use_gpu, detection_size=settings.detection_size, score_threshold=settings.detection_score
        )
        self.encoder = opening.result()
        self.template = template or ChipTemplate.load()
        self.times = StageTimes()
        self.liveness: LivenessMonitor | None = None
        self.set_liveness(liveness_threshold)

    def set_liveness(self, threshold: float | None) -> None:
        """Passive liveness on streams with this spoof-score threshold; None turns it off (and forgets the tracks)."""
        if threshold is None:
            self.liveness = None
            return
        if self.liveness is not None:
            self.liveness.set_threshold(threshold)
            return
        self.liveness = liveness_monitor(threshold, self.settings.use_gpu)

    def apply_settings(self, settings: RecognitionSettings, liveness_threshold: float | None) -> None:
        """Take new settings and a liveness threshold (None: off) live. Only a change of GPU use or of encoder
        needs new ONNX sessions; they are all made before anything changes, so that a model that cannot be
        loaded leaves the pipeline as it was (ModelUnavailable)."""
        gpu_changed = settings.use_gpu != self.settings.use_gpu
        encoder = (open_encoder(settings.encoder, use_gpu=settings.use_gpu)
                   if gpu_changed or settings.encoder != self.settings.encoder else self.encoder)
        detector = FaceDetector(use_gpu=settings.use_gpu) if gpu_changed else self.detector
        liveness = self.liveness
        if liveness_threshold is None:
            liveness = None
        elif liveness is None or gpu_changed:  # on a new device the faces followed are forgotten
            liveness = liveness_monitor(liveness_threshold, settings.use_gpu)
        else:
            liveness.set_threshold(liveness_threshold)
        detector.detection_size, detector.score_threshold = settings.detection_size, settings.detection_score
        self.encoder, self.detector, self.liveness, self.settings = encoder, detector, liveness, settings

    def observe(self, image_rgb: np.ndarray, timestamp: float | None = None) -> list[FaceObservation]:
        """Every face of the image, largest first.

        timestamp (seconds, increasing): the image is a frame of a stream; with liveness on, each face
        then carries the passive verdict of its track."""
        start = time.perf_counter()
        detections = sorted(self.detector.detect(image_rgb), key=lambda d: d.area, reverse=True)
        detected = time.perf_counter()
        chips = align_faces(image_rgb, [d.landmarks for d in detections], self.template)
        aligned = time.perf_counter()
        judged = None  # liveness needs only the detections: it runs beside the encoders (ONNX Runtime frees the GIL)
        if self.liveness is not None and timestamp is not None:
            judged = self._beside.submit(self.liveness.update, image_rgb, detections, timestamp)
        embeddings = self.encoder.encode_faces(image_rgb, detections, chips)
        encoded = time.perf_counter()
        verdicts: Sequence[TrackedVerdict | None] = [None] * len(detections) if judged is None else judged.result()
        checked = time.perf_counter()
        self.times = StageTimes(
            1000 * (detected - start), 1000 * (aligned - detected), 1000 * (encoded - aligned),
            0.0, 1000 * (checked - encoded), len(detections),
        )
        return [self._observation(d, chip, e, v) for d, chip, e, v in zip(detections, chips, embeddings, verdicts)]

    def embed_one(self, image_rgb: np.ndarray, where: str = "the image", rule: str = "subject",
                  check_size: bool = True) -> "PhotoFace":
        """The face a photo is of: its subject (rule "subject", see subject_index) or its largest face
        (rule "largest"), with every face found; raises NoFace or FaceTooSmall."""
        faces = self.observe(image_rgb)
        if not faces:
            raise NoFace(where)
        centrality = SUBJECT_CENTRALITY if rule == "subject" else 0.0
        photo = PhotoFace(tuple(faces), subject_index([f.box for f in faces], image_rgb.shape, centrality), rule)
        if check_size and photo.face.quality.face_px < self.settings.min_face_px:
            raise FaceTooSmall(photo.face.quality.face_px, self.settings.min_face_px, where)
        return photo

    def _observation(self, detection: Detection, chip, embedding, liveness) -> FaceObservation:
        quality = assess(chip, detection.landmarks, detection.width, self.settings.min_face_px)
        return FaceObservation(detection.box, detection.landmarks, detection.score, chip, embedding, quality,
                               liveness=liveness)
