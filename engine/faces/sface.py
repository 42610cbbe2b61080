"""SFace (Zhong et al. 2021, "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition"), OpenCV
Zoo's face_recognition_sface_2021dec, on ONNX Runtime: a third identity encoder, 128-D.

SFace was trained on faces aligned onto the ArcFace 112x112 template by a similarity warp of 5 landmarks (what
cv2.FaceRecognizerSF.alignCrop does); RetinaFace's landmarks come in the template's order (image-left eye
first). One bilinear warp, as alignCrop cuts it: shrinking a large face first (as dlib's chips are cut) moves
SFace's embedding of a 230-pixel face by a cosine of 0.02 from OpenCV's. The model file
(tools/convert_sface.py) takes these chips as uint8 RGB, (N, 112, 112, 3), and does its own input scaling; its
outputs are compared after L2 normalisation, as OpenCV's FaceRecognizerSF.match does.
"""
from __future__ import annotations

import numpy as np

from .align import ChipTemplate, align_faces
from .encode import OnnxEncoder

MODEL_FILE = "sface_2021dec.onnx"
CHIP_SIZE = 112
EMBEDDING_SIZE = 128
# Where the eyes, the nose tip and the mouth corners land in a 112x112 ArcFace chip: the template of insightface's
# arcface_torch (also OpenCV's FaceRecognizerSF::alignCrop).
ARCFACE_TEMPLATE = ChipTemplate(CHIP_SIZE, np.array([
    [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]))


def sface_chips(image_rgb: np.ndarray, faces) -> np.ndarray:
    """(N, 112, 112, 3) uint8 RGB ArcFace chips of the given faces (Detections: their 5 landmarks) of one image."""
    return align_faces(image_rgb, [face.landmarks for face in faces], ARCFACE_TEMPLATE, antialias=False)


class SFaceEncoder(OnnxEncoder):
    """ArcFace chips (sface_chips, (N, 112, 112, 3) uint8 RGB) -> L2-normalised 128-D embeddings."""

    MODEL_FILE, INPUT, SIZE, EMBEDDING_SIZE = MODEL_FILE, "chips", CHIP_SIZE, EMBEDDING_SIZE
    INT8_WEIGHTS = True

    def encode_faces(self, image_rgb: np.ndarray, detections, chips: np.ndarray) -> np.ndarray:
        """The pipeline's call, common to every encoder: this one cuts its own chips from the landmarks."""
        return self.encode(sface_chips(image_rgb, detections))
