"""FaceEncoder: aligned 150x150 chips -> L2-normalised 128-D embeddings, on ONNX Runtime.

The model is dlib's face-recognition ResNet, converted by tools/convert_dlib_resnet.py; its raw
outputs equal dlib's compute_face_descriptor (tests/test_encoder.py). We normalise them to unit
length so distances live in [0, 2] and identification is one matrix product.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime import expected_checksums, file_sha256, model_path, onnx_session

MODEL_FILE = "dlib_resnet_v1.onnx"
CHIP_SIZE = 150
EMBEDDING_SIZE = 128


class FaceEncoder:
    def __init__(self, model_file: Path | None = None, use_gpu: bool = True):
        path = model_file or model_path(MODEL_FILE)
        self.session, self.provider = onnx_session(path, use_gpu)
        self.id = self.model_id(path)

    @staticmethod
    def model_id(model_file: Path | None = None) -> str:
        """Identifies the weights: embeddings of different ids must never be compared."""
        if model_file is None:
            return f"{Path(MODEL_FILE).stem}:{expected_checksums()[MODEL_FILE][:12]}"
        return f"{Path(model_file).stem}:{file_sha256(Path(model_file))[:12]}"

    def raw_descriptors(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32, exactly dlib's descriptors."""
        if len(chips) == 0:
            return np.empty((0, EMBEDDING_SIZE), np.float32)
        return self.session.run(None, {"chips": np.ascontiguousarray(chips, dtype=np.uint8)})[0]

    def encode(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, 128) float32 unit vectors; all chips in one batch."""
        descriptors = self.raw_descriptors(chips)
        return descriptors / np.maximum(np.linalg.norm(descriptors, axis=1, keepdims=True), 1e-12)
