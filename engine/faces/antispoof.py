"""Passive anti-spoofing with the two MiniFASNet models (Silent-Face-Anti-Spoofing, Apache-2.0).

Each model scores one face crop with a softmax over 3 classes: index 1 is a live face, 0 and 2 are the two
kinds of attack the authors trained on. The two models see the same face at two crop scales (2.7 and 4.0 times
the face box); their softmaxes are summed, as their authors do, and the live probability of a face is the summed
class-1 score / 2. The models take BGR 0-255 (not normalised): this module takes RGB like the rest of the engine
and swaps the channels itself. A single frame is noisy (moving the box by 1 px moved a score by up to 0.23 on
the live clips, rounding it by up to 0.14): decide on a face track over several frames, not on one frame.

Files: resources/models/minifasnet_v2.onnx and minifasnet_v1se.onnx (tools/convert_minifasnet.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..runtime import MODELS_DIR, model_path, onnx_session
from .detect import Detection

MODELS = (("minifasnet_v2.onnx", 2.7), ("minifasnet_v1se.onnx", 4.0))  # file, crop scale around the face box
INPUT_SIZE = 80
LIVE_CLASS = 1
# BOX_SHAPE = (width factor, height factor) applied to RetinaFace's box around its centre. RetinaFace's boxes are
# tall (height/width ~1.34); the authors' detector drew boxes ~13 % wider and ~13 % shorter, nearly square, and
# the models were trained on crops of those. Measured with bench/antispoof.py (share of live frames called spoof,
# raw box -> reshaped): zubair_live_webcam 31.7 % -> 2.5 %, the live person of zubair_live_plus_phone_replay
# 80 % -> 17 %, tranvanluyt_live_phone_selfie 6.6 % -> 10.5 % (its misses are head turns, and there the window is
# clipped to the frame anyway); every replay frame stays spoof either way. (1.1, 0.9), (1.15, 0.85), (1.2, 0.8)
# and a square of the box's area did no better; shifting the box up or down by 5-10 % of its height neither.
BOX_SHAPE = (1.13, 0.87)


def crop_window(box, image_height: int, image_width: int, scale: float,
                box_shape: tuple[float, float] = BOX_SHAPE) -> tuple[int, int, int, int]:
    """The image window (x1, y1, x2, y2), x2 and y2 exclusive, that a model of `scale` sees for a face box.

    box: the detector's (x1, y1, x2, y2) in pixels. It is reshaped by box_shape around its centre, then
    enlarged `scale` times around the same centre; the scale is lowered where the window would not fit in the
    image (so large faces give every model the same window), and the window is slid, never padded, to lie
    inside the image.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    width = max(x2 - x1, 1.0) * box_shape[0]
    height = max(y2 - y1, 1.0) * box_shape[1]
    scale = min(scale, image_width / width, image_height / height)
    width, height = width * scale, height * scale
    left = min(max((x1 + x2 - width) / 2, 0.0), image_width - width)
    top = min(max((y1 + y2 - height) / 2, 0.0), image_height - height)
    left, top = round(left), round(top)
    return (left, top, min(left + max(round(width), 1), image_width), min(top + max(round(height), 1), image_height))


def face_crops(image_rgb: np.ndarray, boxes: Sequence, scale: float,
               box_shape: tuple[float, float] = BOX_SHAPE) -> np.ndarray:
    """(H, W, 3) uint8 RGB image and N face boxes -> (N, 3, 80, 80) float32 BGR 0-255, the models' input.

    Each window of crop_window is resized to 80x80 with bilinear interpolation, as the authors trained.
    """
    height, width = image_rgb.shape[:2]
    crops = np.empty((len(boxes), 3, INPUT_SIZE, INPUT_SIZE), np.float32)
    for i, box in enumerate(boxes):
        x1, y1, x2, y2 = crop_window(box, height, width, scale, box_shape)
        crop = cv2.resize(image_rgb[y1:y2, x1:x2], (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        crops[i] = crop[:, :, ::-1].transpose(2, 0, 1)
    return crops


class AntiSpoofModel:
    """The two MiniFASNet models on ONNX Runtime: faces of an RGB image -> live probability per face.

    A missing or damaged model file (in models_dir, checked against its checksums.sha256) raises ModelUnavailable.
    On the CPU each session runs on one thread: for these small models that is as fast as one thread per core
    for one face and faster for a batch, and it leaves the other cores to the rest of the pipeline.
    """

    def __init__(self, use_gpu: bool = True, models_dir: Path = MODELS_DIR):
        sessions = [onnx_session(model_path(name, models_dir), use_gpu, intra_op_threads=1) for name, _ in MODELS]
        self.sessions = [session for session, _ in sessions]
        self.provider = sessions[0][1]
        self.scales = [scale for _, scale in MODELS]
        self._beside = ThreadPoolExecutor(1, thread_name_prefix="antispoof")  # the two models run at the same time

    def live_scores(self, image_rgb: np.ndarray, detections: Sequence[Detection],
                    box_shape: tuple[float, float] = BOX_SHAPE) -> np.ndarray:
        """(H, W, 3) uint8 RGB image and its detections -> (N,) float32 live probability in 0..1 per face.

        The authors call a face live when the live class has the largest summed score (always so above 0.5).
        All faces of the image go through each model as one batch. box_shape=(1, 1) uses the detector's boxes
        as they are (for comparison; see BOX_SHAPE).
        """
        boxes = [d.box for d in detections]
        if not boxes:
            return np.empty(0, np.float32)
        run = lambda session, scale: session.run(None, {"bgr": face_crops(image_rgb, boxes, scale, box_shape)})[0]  # noqa: E731
        beside = self._beside.submit(run, self.sessions[1], self.scales[1])  # ONNX Runtime frees the GIL
        total = run(self.sessions[0], self.scales[0]) + beside.result()
        return total[:, LIVE_CLASS] / len(self.sessions)
