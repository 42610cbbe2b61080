"""Alignment: a similarity warp of RetinaFace's 5 landmarks onto the encoder's canonical 150x150 chip.

The template (resources/models/chip_template.json) is where those 5 points land, on average, inside
the chips dlib cuts for its own encoder; tools/fit_chip_template.py fitted it on LFW DevTrain faces.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelUnavailable
from ..runtime import MODELS_DIR

TEMPLATE_FILE = MODELS_DIR / "chip_template.json"


@dataclass(frozen=True)
class ChipTemplate:
    size: int
    points: np.ndarray  # (5, 2) chip pixels

    @classmethod
    def load(cls, path: Path = TEMPLATE_FILE) -> "ChipTemplate":
        try:
            data = json.loads(path.read_text())
            return cls(int(data["chip_size"]), np.asarray(data["points"], dtype=np.float64).reshape(5, 2))
        except (OSError, ValueError, KeyError) as error:
            raise ModelUnavailable(f"The alignment template {path} is missing or damaged ({error}).") from error


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 matrix of the rotation + uniform scale + shift that best maps source points onto target points
    in the least-squares sense (Umeyama 1991, without reflection)."""
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    u, singular, vt = np.linalg.svd(dst.T @ src)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / (src**2).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.column_stack([scale * rotation, shift])


def align_face(image_rgb: np.ndarray, landmarks: np.ndarray, template: ChipTemplate,
               antialias: bool = True) -> np.ndarray:
    """Cut the aligned chip (size x size x 3, uint8 RGB) of one face.

    With antialias, a face larger than the chip is first shrunk with area averaging, as dlib shrinks with an
    image pyramid: a plain bilinear warp would alias fine texture into the chip. Without, one bilinear warp, as
    OpenCV's FaceRecognizerSF.alignCrop (and the ArcFace family's training crops) cut it.
    """
    matrix = similarity_transform(landmarks, template.points)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if antialias and scale < 0.8:
        image_rgb, landmarks = _shrunk_region(image_rgb, landmarks, matrix, scale, template.size)
        matrix = similarity_transform(landmarks, template.points)
    return cv2.warpAffine(image_rgb, matrix, (template.size, template.size), flags=cv2.INTER_LINEAR)


def _shrunk_region(image, landmarks, matrix, scale, size):
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64) @ inverse.T
    height, width = image.shape[:2]
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - 2, 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 2, [x0 + 1, y0 + 1], [width, height])
    region = image[y0:y1, x0:x1]
    new_size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
    shrunk = cv2.resize(region, new_size, interpolation=cv2.INTER_AREA)
    factors = np.array([new_size[0] / region.shape[1], new_size[1] / region.shape[0]])
    return shrunk, (landmarks - [x0, y0] + 0.5) * factors - 0.5  # pixel centres, as cv2.resize maps them


def align_faces(image_rgb: np.ndarray, landmark_sets: list[np.ndarray], template: ChipTemplate,
                antialias: bool = True) -> np.ndarray:
    """Chips of several faces of one image as one (N, size, size, 3) batch."""
    chips = [align_face(image_rgb, points, template, antialias) for points in landmark_sets]
    return np.stack(chips) if chips else np.empty((0, template.size, template.size, 3), np.uint8)
