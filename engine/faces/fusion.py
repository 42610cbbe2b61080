"""FaceNet alone, and dlib + FaceNet fused into one vector whose Euclidean distance is the fused distance.

The fused embedding of a face is [a * dlib, b * z(FaceNet)] with a^2 + b^2 = 1, where z standardises each
FaceNet dimension (mean and standard deviation over LFW View-1 DevTrain's images) and rescales to unit length.
Both parts are unit vectors, so the fused vector is one too and

    d_fused^2 = a^2 * d_dlib^2 + b^2 * d_facenet^2,

one distance for verify, identify, galleries, tau, calibration and the pair classifier alike. The statistics,
the weights and the FaceNet crop margin were fitted on LFW View-1 DevTrain only, the weight by
cross-validation over DevTrain's people (bench/fusion.py; resources/calibration/README.md).
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ModelUnavailable
from ..runtime import file_sha256
from .encode import FaceEncoder
from .facenet import FaceNetEncoder, facenet_crops

FUSION_FILE = Path(__file__).resolve().parents[2] / "resources" / "calibration" / "fusion_facenet_dlib.npz"


SIZES = {"dlib+facenet": FaceEncoder.EMBEDDING_SIZE + FaceNetEncoder.EMBEDDING_SIZE,
         "facenet": FaceNetEncoder.EMBEDDING_SIZE}


def _fusion_file() -> Path:
    if not FUSION_FILE.is_file():
        raise ModelUnavailable(f"The fusion statistics {FUSION_FILE} are missing; reinstall Likeness.")
    return FUSION_FILE


def _statistics() -> dict:
    with np.load(_fusion_file()) as stored:
        return {key: stored[key] for key in stored.files}


def fused_id(name: str) -> str:
    """The id of "facenet" or "dlib+facenet": both models' ids and the statistics file, hashed."""
    parts = f"{FaceEncoder.model_id()}|{FaceNetEncoder.model_id()}|{file_sha256(_fusion_file())}"
    return f"{name}:{hashlib.sha256(parts.encode()).hexdigest()[:12]}"


class FusedEncoder:
    """name "dlib+facenet": the fused vector (128 + 512 values); name "facenet": standardised FaceNet alone (512).

    encode_faces(image, detections, chips) -> unit vectors; each model sees all faces of an image in one batch,
    the two models at the same time, each on half the cores (on two cores: 9.4 ms a face instead of 15 ms one
    after the other).
    """

    def __init__(self, name: str = "dlib+facenet", use_gpu: bool = True):
        stats = _statistics()
        threads = max(1, (os.cpu_count() or 2) // 2) if name == "dlib+facenet" else None
        self.facenet = FaceNetEncoder(use_gpu=use_gpu, intra_op_threads=threads)
        self.dlib = FaceEncoder(use_gpu=use_gpu, intra_op_threads=threads) if name == "dlib+facenet" else None
        self._beside = ThreadPoolExecutor(1, thread_name_prefix="dlib-encoder") if self.dlib else None
        if str(stats["facenet_encoder"]) != self.facenet.id or (self.dlib and str(stats["dlib_encoder"]) != self.dlib.id):
            raise ModelUnavailable(f"{FUSION_FILE.name} was fitted on other model files; reinstall Likeness.")
        self.mean, self.std, self.margin = stats["facenet_mean"], stats["facenet_std"], float(stats["margin"])
        self.weights = (float(stats["dlib_weight"]), float(stats["facenet_weight"])) if self.dlib else (0.0, 1.0)
        self.id = fused_id(name)
        self.provider = self.facenet.provider
        self.EMBEDDING_SIZE = SIZES[name]

    def encode_faces(self, image_rgb: np.ndarray, detections, chips: np.ndarray) -> np.ndarray:
        """(N, EMBEDDING_SIZE) float32 unit vectors of the detected faces (chips: their dlib chips, in order)."""
        # ONNX Runtime frees the GIL
        dlib = self._beside.submit(self.dlib.encode, chips) if self.dlib and self._beside else None
        facenet = self.facenet.encode(facenet_crops(image_rgb, detections, self.margin))
        standardised = (facenet - self.mean) / self.std
        standardised /= np.maximum(np.linalg.norm(standardised, axis=1, keepdims=True), 1e-12)
        if dlib is None:
            return standardised.astype(np.float32)
        dlib_weight, facenet_weight = self.weights
        return np.hstack([dlib_weight * dlib.result(), facenet_weight * standardised]).astype(np.float32)
