"""Enrollment gates: is this face good enough to store? Size, sharpness, exposure, pose.

Each check gives a reason a person can act on ("move closer", "hold still" ...). The thresholds are
loose on purpose: they refuse the shots that hurt recognition, not ordinary webcam frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_SHARPNESS = 40.0  # variance of the Laplacian of the grey chip; motion-blurred webcam frames fall below
DARK, BRIGHT = 50.0, 210.0  # mean grey level of the face's centre
MAX_CLIPPED = 0.25  # fraction of the face's centre at 0 or 255
MAX_YAW = 0.35  # nose offset from the eyes' midpoint, in eye distances (about 30 degrees)


@dataclass(frozen=True)
class Quality:
    face_px: float
    sharpness: float
    brightness: float
    yaw: float
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def frontal(self) -> bool:
        """Facing the camera closely enough to be compared: the one rule for a turned head."""
        return is_frontal(self.yaw)


def is_frontal(yaw: float) -> bool:
    return abs(yaw) <= MAX_YAW


def head_yaw(landmarks: np.ndarray) -> float:
    """Signed horizontal offset of the nose tip from the eyes' midpoint, in units of eye distance.

    0 for a frontal face; positive when the nose is towards the image's right.
    """
    left_eye, right_eye, nose = landmarks[0], landmarks[1], landmarks[2]
    eye_distance = max(float(np.linalg.norm(right_eye - left_eye)), 1e-6)
    axis = (right_eye - left_eye) / eye_distance
    return float(np.dot(nose - (left_eye + right_eye) / 2, axis) / eye_distance)


def assess(chip_rgb: np.ndarray, landmarks: np.ndarray, face_px: float, min_face_px: int) -> Quality:
    grey = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY)
    centre = grey[35:125, 35:115]  # eyes to mouth of the 150 px chip
    sharpness = float(cv2.Laplacian(centre, cv2.CV_64F).var())
    brightness = float(centre.mean())
    clipped = float(np.mean((centre <= 2) | (centre >= 253)))
    yaw = head_yaw(landmarks)
    problems = []
    if face_px < min_face_px:
        problems.append(f"the face is too small ({face_px:.0f} px, need {min_face_px}): move closer")
    if sharpness < MIN_SHARPNESS:
        problems.append("the face is blurred: hold still")
    if brightness < DARK:
        problems.append("the face is too dark: add light")
    elif brightness > BRIGHT or clipped > MAX_CLIPPED:
        problems.append("the face is over-exposed: reduce the light behind the camera")
    if not is_frontal(yaw):
        problems.append("the head is turned: look at the camera")
    return Quality(face_px, sharpness, brightness, yaw, tuple(problems))
