"""FaceEncoder: aligned 150x150 chips -> L2-normalised 128-D embeddings, on ONNX Runtime.

The model is dlib's face-recognition ResNet, converted by tools/convert_dlib_resnet.py; its raw
outputs equal dlib's compute_face_descriptor to within 1e-6 (tests/test_encoder.py). Raw descriptors
have a norm close to 1.41 (1.34-1.57 on the LFW fixture chips); we scale them to unit length so distances
live in [0, 2] and identification is one matrix product. dlib's threshold of 0.6 applies to raw
descriptors: on unit vectors it corresponds to about 0.6 / 1.41 = 0.42, to be calibrated, not assumed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..runtime import model_path, onnx_session, weights_id

MODEL_FILE = "dlib_resnet_v1.onnx"
CHIP_SIZE = 150
EMBEDDING_SIZE = 128


class OnnxEncoder:
    """uint8 RGB face images (N, SIZE, SIZE, 3) -> L2-normalised embeddings, all images of a call in one ONNX Runtime
    run. A subclass names its model file, its input and its sizes."""

    MODEL_FILE: str
    INPUT: str
    SIZE: int
    EMBEDDING_SIZE: int
    INT8_WEIGHTS = False  # the shipped file holds INT8 weights (see runtime.int8_products_saturate)

    def __init__(self, model_file: Path | None = None, use_gpu: bool = True, intra_op_threads: int | None = None):
        path = Path(model_file) if model_file is not None else model_path(self.MODEL_FILE)
        self.session, self.provider = onnx_session(path, use_gpu, intra_op_threads, self.INT8_WEIGHTS)
        self.id = self.model_id(path)

    @classmethod
    def model_id(cls, model_file: Path | None = None) -> str:
        """Names the weights, e.g. "dlib_resnet_v1:066d34a26f1d" (the shipped file's without model_file)."""
        return weights_id(cls.MODEL_FILE, model_file)

    def raw_descriptors(self, images: np.ndarray) -> np.ndarray:
        """The model's own outputs (N, EMBEDDING_SIZE) float32, not normalised."""
        images = np.asarray(images)
        expected = (self.SIZE, self.SIZE, 3)
        if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
            raise BadInput(f"{type(self).__name__} takes uint8 RGB images of shape (N, {self.SIZE}, {self.SIZE}, 3), "
                           f"not {images.dtype} {images.shape}.")
        if len(images) == 0:
            return np.empty((0, self.EMBEDDING_SIZE), np.float32)
        return self.session.run(None, {self.INPUT: np.ascontiguousarray(images)})[0]

    def encode(self, images: np.ndarray) -> np.ndarray:
        """(N, SIZE, SIZE, 3) uint8 RGB -> (N, EMBEDDING_SIZE) float32 unit vectors."""
        descriptors = self.raw_descriptors(images)
        return descriptors / np.maximum(np.linalg.norm(descriptors, axis=1, keepdims=True), 1e-12)


class FaceEncoder(OnnxEncoder):
    """dlib's ResNet (or an encoder made by `train`, same input): aligned 150x150 chips -> 128-D unit vectors."""

    MODEL_FILE, INPUT, SIZE, EMBEDDING_SIZE = MODEL_FILE, "chips", CHIP_SIZE, EMBEDDING_SIZE
    CHIP_SIZE = CHIP_SIZE

    def encode_faces(self, image_rgb: np.ndarray, detections, chips: np.ndarray) -> np.ndarray:
        """The pipeline's call, common to every encoder: this one needs only the faces' chips."""
        return self.encode(chips)
