"""dlib + a second encoder (FaceNet or SFace) fused into one vector whose Euclidean distance is the fused distance,
and FaceNet alone as it is fused.

The fused embedding of a face is [a * dlib, b * z(partner)] with a^2 + b^2 = 1, where z standardises each of the
partner's dimensions (mean and standard deviation over LFW View-1 DevTrain's images; none when the statistics
file holds no mean) and rescales to unit length. Both parts are unit vectors, so the fused vector is one too and

    d_fused^2 = a^2 * d_dlib^2 + b^2 * d_partner^2,

one distance for verify, identify, galleries, tau, calibration and the pair classifier alike. The statistics and
the weights were fitted on LFW View-1 DevTrain only, the weight by cross-validation over DevTrain's people
(bench/fusion.py, bench/fusion_sface.py; resources/calibration/README.md).
"""
from __future__ import annotations

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from ..runtime import file_sha256
from .encode import FaceEncoder
from .facenet import FaceNetEncoder
from .sface import SFaceEncoder

CALIBRATION_DIR = Path(__file__).resolve().parents[2] / "resources" / "calibration"


@dataclass(frozen=True)
class Fusion:
    """A fused encoder: its partner model (fused with dlib unless alone) and the file of its statistics."""

    partner: type[FaceNetEncoder] | type[SFaceEncoder]
    statistics: str  # file name in resources/calibration; keys prefixed with the partner's name
    alone: bool = False  # the partner alone, standardised as in the fusion

    @property
    def key(self) -> str:
        return "facenet" if self.partner is FaceNetEncoder else "sface"

    @property
    def size(self) -> int:
        return self.partner.EMBEDDING_SIZE + (0 if self.alone else FaceEncoder.EMBEDDING_SIZE)

    def statistics_file(self) -> Path:
        path = CALIBRATION_DIR / self.statistics
        if not path.is_file():
            raise ModelUnavailable(f"The fusion statistics {path} are missing; reinstall Likeness.")
        return path


FUSIONS = {
    "dlib+sface": Fusion(SFaceEncoder, "fusion_sface_dlib.npz"),
    "dlib+facenet": Fusion(FaceNetEncoder, "fusion_facenet_dlib.npz"),
    "facenet": Fusion(FaceNetEncoder, "fusion_facenet_dlib.npz", alone=True),
}


def fused_id(name: str) -> str:
    """The id of a fused encoder: both models' ids and the statistics file, hashed."""
    fusion = FUSIONS[name]
    statistics = fusion.statistics_file()
    stat = statistics.stat()
    return _fused_id(name, statistics, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _fused_id(name: str, statistics: Path, size: int, mtime_ns: int) -> str:
    parts = f"{FaceEncoder.model_id()}|{FUSIONS[name].partner.model_id()}|{file_sha256(statistics)}"
    return f"{name}:{hashlib.sha256(parts.encode()).hexdigest()[:12]}"


class FusedEncoder:
    """One of FUSIONS by name. encode_faces(image, detections, chips) -> unit vectors; each model sees all faces of
    an image in one batch, the two models at the same time, each on half the cores (on two cores: 9.4 ms a face
    for dlib + FaceNet instead of 15 ms one after the other)."""

    def __init__(self, name: str = "dlib+sface", use_gpu: bool = True):
        fusion = FUSIONS[name]
        with np.load(fusion.statistics_file()) as stored:
            stats = {key: stored[key] for key in stored.files}
        key = fusion.key
        threads = None if fusion.alone else max(1, (os.cpu_count() or 2) // 2)
        self._beside = None if fusion.alone else ThreadPoolExecutor(1, thread_name_prefix="dlib-encoder")
        # the two sessions are made at the same time too (ONNX Runtime frees the GIL): a faster start
        dlib = self._beside.submit(FaceEncoder, use_gpu=use_gpu, intra_op_threads=threads) if self._beside else None
        self.partner = fusion.partner(use_gpu=use_gpu, intra_op_threads=threads)
        if "margin" in stats and isinstance(self.partner, FaceNetEncoder):
            self.partner.margin = float(stats["margin"])
        self.dlib = dlib.result() if dlib else None
        if str(stats[f"{key}_encoder"]) != self.partner.id or (self.dlib and str(stats["dlib_encoder"]) != self.dlib.id):
            raise ModelUnavailable(f"{fusion.statistics} was fitted on other model files; reinstall Likeness.")
        self.mean, self.std = stats.get(f"{key}_mean"), stats.get(f"{key}_std")
        self.weights = (0.0, 1.0) if fusion.alone else (float(stats["dlib_weight"]), float(stats[f"{key}_weight"]))
        self.id = fused_id(name)
        self.provider = self.partner.provider
        self.EMBEDDING_SIZE = fusion.size

    def encode_faces(self, image_rgb: np.ndarray, detections, chips: np.ndarray) -> np.ndarray:
        """(N, EMBEDDING_SIZE) float32 unit vectors of the detected faces (chips: their dlib chips, in order)."""
        # ONNX Runtime frees the GIL
        dlib = self._beside.submit(self.dlib.encode, chips) if self.dlib and self._beside else None
        partner = self.partner.encode_faces(image_rgb, detections, chips)
        if self.mean is not None:
            partner = (partner - self.mean) / self.std
            partner /= np.maximum(np.linalg.norm(partner, axis=1, keepdims=True), 1e-12)
        if dlib is None:
            return partner.astype(np.float32)
        dlib_weight, partner_weight = self.weights
        return np.hstack([dlib_weight * dlib.result(), partner_weight * partner]).astype(np.float32)
