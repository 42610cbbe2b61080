"""Dense face landmarks: MediaPipe FaceMesh (468 points) on ONNX Runtime, and eye openness from them.

The model sees a 192x192 crop of the face, upright, with some margin (the face box enlarged 1.5x, as
in MediaPipe's own pipeline), RGB scaled to 0..1. It returns 468 (x, y, z) points in crop pixels and a
face-presence logit. We cut the crop from a RetinaFace detection (its box and its eyes give centre,
size and roll) and map the points back to image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..runtime import model_path, onnx_session
from .detect import Detection

MODEL_FILE = "face_mesh_468.onnx"
INPUT_SIZE = 192
CROP_SCALE = 1.5

# Points of the canonical FaceMesh topology around each eye: two corners, then upper and lower lid
# pairs that face each other (image-left eye first, as in Detection.landmarks).
EYES = (
    {"corners": (33, 133), "upper": (160, 158), "lower": (144, 153)},
    {"corners": (362, 263), "upper": (385, 387), "lower": (380, 373)},
)


@dataclass(frozen=True)
class FaceMesh:
    """468 points (x, y in image pixels; z in the same scale, relative depth) and the model's face presence."""

    points: np.ndarray
    presence: float


def crop_transform(detection: Detection) -> np.ndarray:
    """2x3 affine that maps the image to the model's upright 192x192 crop of this face."""
    x1, y1, x2, y2 = detection.box
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    side = CROP_SCALE * max(x2 - x1, y2 - y1)
    left_eye, right_eye = detection.landmarks[0], detection.landmarks[1]
    roll = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    matrix: np.ndarray = cv2.getRotationMatrix2D(centre, roll, INPUT_SIZE / side)
    matrix[:, 2] += INPUT_SIZE / 2 - np.array(centre)
    return matrix


class FaceMeshModel:
    """RGB image + a face detection -> FaceMesh."""

    def __init__(self, model_file: Path | None = None, use_gpu: bool = False):
        self.session, self.provider = onnx_session(model_file or model_path(MODEL_FILE), use_gpu)

    def mesh(self, image_rgb: np.ndarray, detection: Detection) -> FaceMesh:
        matrix = crop_transform(detection)
        crop = cv2.warpAffine(image_rgb, matrix, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        blob = (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        raw_points, flag = self.session.run(["landmarks", "face_flag"], {"image": blob})
        points = raw_points.reshape(468, 3)
        inverse = cv2.invertAffineTransform(matrix)
        xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        z = points[:, 2:] * np.sqrt(abs(np.linalg.det(inverse[:, :2])))
        presence = float(1.0 / (1.0 + np.exp(-flag.ravel()[0])))
        return FaceMesh(np.hstack([xy, z]).astype(np.float32), presence)


def eye_aspect_ratio(points: np.ndarray, eye: dict) -> float:
    """Lid opening over eye width (Soukupova and Cech 2016): about 0.25-0.35 open, under 0.15 closed."""
    width = np.linalg.norm(points[eye["corners"][0], :2] - points[eye["corners"][1], :2])
    openings = [np.linalg.norm(points[u, :2] - points[d, :2]) for u, d in zip(eye["upper"], eye["lower"])]
    return float(np.mean(openings) / max(width, 1e-6))


def eye_openness(mesh: FaceMesh) -> float:
    """Mean eye aspect ratio of both eyes."""
    return float(np.mean([eye_aspect_ratio(mesh.points, eye) for eye in EYES]))
