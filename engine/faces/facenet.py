"""FaceNet (Inception-ResNet-v1 trained on CASIA-WebFace, 512-D) on ONNX Runtime: a second identity encoder.

FaceNet was trained on loose box crops, not on landmark-aligned chips (issue 10 measured that warping
RetinaFace's 5 points onto a template loses ~0.5 points on LFW). Its crop: the detector's box, enlarged on
every side by MARGIN times the box's size, cut out (clipped to the image), resized to 182x182 without keeping
the aspect ratio, and the centre 160x160 kept. The model file (tools/convert_facenet.py) takes these crops as
uint8 RGB and itself standardises them as (x - 127.5) / 128, the convention it was trained with; its output is
already of unit length.
"""
from __future__ import annotations


import cv2
import numpy as np

from ..errors import BadInput
from .encode import OnnxEncoder

MODEL_FILE = "facenet_casia.onnx"
CROP_SIZE = 160
RESIZE_TO = 182  # resized to this first, then the centre CROP_SIZE is kept (as FaceNet's training crops were)
MARGIN = 0.20  # of the box's size, on each side: the default crop (tools/convert_facenet.py calibrates and checks
# with it); the fused encoder uses the margin in fusion_facenet_dlib.npz, chosen by CV on LFW View-1 DevTrain
# (bench/fusion.py): 0.20 for the float16 file, 0.15 for the INT8 one (99.18 % against 99.16 %, a near tie)
EMBEDDING_SIZE = 512


def facenet_crop(image_rgb: np.ndarray, face, margin: float = MARGIN) -> np.ndarray:
    """The FaceNet crop of one face: (160, 160, 3) uint8 RGB.

    image_rgb: (H, W, 3) uint8 RGB. face: a Detection (or anything with .box, or the box itself) whose box is
    (x1, y1, x2, y2) in pixels of image_rgb. The box grows by margin * its width (left and right) and
    margin * its height (top and bottom), is clipped to the image, resized to 182x182 and centre-cropped.
    """
    box = np.asarray(getattr(face, "box", face), dtype=np.float64)
    grow = margin * np.array([box[2] - box[0], box[3] - box[1]])
    height, width = image_rgb.shape[:2]
    x1, y1 = np.maximum(np.round(box[:2] - grow), 0).astype(int)
    x2, y2 = np.minimum(np.round(box[2:] + grow), [width, height]).astype(int)
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise BadInput(f"The face box {box.round(1).tolist()} lies outside the {width}x{height} image.")
    resized = cv2.resize(image_rgb[y1:y2, x1:x2], (RESIZE_TO, RESIZE_TO), interpolation=cv2.INTER_LINEAR)
    start = (RESIZE_TO - CROP_SIZE) // 2
    return resized[start:start + CROP_SIZE, start:start + CROP_SIZE]


def facenet_crops(image_rgb: np.ndarray, faces, margin: float = MARGIN) -> np.ndarray:
    """(N, 160, 160, 3) uint8 RGB crops of the given faces (Detections or boxes) of one image."""
    crops = [facenet_crop(image_rgb, face, margin) for face in faces]
    return np.stack(crops) if crops else np.empty((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)


class FaceNetEncoder(OnnxEncoder):
    """FaceNet crops (facenet_crop, (N, 160, 160, 3) uint8 RGB) -> L2-normalised 512-D embeddings."""

    MODEL_FILE, INPUT, SIZE, EMBEDDING_SIZE = MODEL_FILE, "crops", CROP_SIZE, EMBEDDING_SIZE
    INT8_WEIGHTS = True

    margin = MARGIN  # the fused encoders set the margin their statistics were fitted with

    def encode_faces(self, image_rgb: np.ndarray, detections, chips: np.ndarray) -> np.ndarray:
        """The pipeline's call, common to every encoder: this one cuts its own box crops."""
        return self.encode(facenet_crops(image_rgb, detections, self.margin))
