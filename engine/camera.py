"""FrameSource: a webcam index, a video file or a folder of images, read as timestamped RGB frames.

A lost device is reported (CameraLost) instead of hanging; a video file loops unless told to play once.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import BadInput, CameraLost, UnreadableImage
from .images import IMAGE_SUFFIXES, load_image, refuse_huge_frames, video_capture

MAX_FAILED_READS = 10  # a webcam may drop a frame or two; ten in a row means it is gone


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 RGB (H, W, 3)
    index: int
    timestamp: float  # time.monotonic() when the frame was read


def describe_source(source: str) -> str:
    return f"camera {source}" if source.isdigit() else Path(source).name


class FrameSource:
    """Iterate over frames; `fps` is the source's nominal rate (a file is paced to it when `realtime`)."""

    def __init__(self, source: str | int, loop: bool = True, realtime: bool = True):
        self.source = str(source)
        self.loop = loop
        self.realtime = realtime
        self.images: list[Path] = []
        self.capture: cv2.VideoCapture | None = None
        self.fps = 30.0
        self._open()

    @property
    def is_camera(self) -> bool:
        return self.source.isdigit()

    def _open(self) -> None:
        path = Path(self.source)
        if self.is_camera:
            self.capture = cv2.VideoCapture(int(self.source))
        elif path.is_dir():
            self.images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.images:
                raise BadInput(f"The folder {path} holds no images.")
            return
        elif path.is_file():
            self.capture = video_capture(path)
        else:
            raise BadInput(f"The camera source {self.source} is neither a webcam index, a video file nor a folder.")
        if not self.capture.isOpened():
            raise CameraLost(f"Cannot open {describe_source(self.source)}; is it connected and free?")
        if not self.is_camera:
            refuse_huge_frames(self.capture, path)
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else 30.0

    def frames(self):
        """Yield Frame objects until the source ends (a file played once) or is closed."""
        reader = self._folder_frames() if self.images else self._capture_frames()
        period = 1.0 / self.fps
        next_due = time.monotonic()
        for index, image in enumerate(reader):
            if self.realtime and not self.is_camera:
                next_due += period
                time.sleep(max(0.0, next_due - time.monotonic()))
            yield Frame(image, index, time.monotonic())

    def _folder_frames(self):
        while True:
            for path in self.images:
                with contextlib.suppress(UnreadableImage):  # a folder may hold a damaged photo: show the others
                    yield load_image(path)
            if not self.loop:
                return

    def _capture_frames(self):
        failures = 0
        while self.capture is not None:
            ok, image = self.capture.read()
            if ok:
                failures = 0
                yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            elif not self.is_camera:
                if not self.loop:
                    return
                failures += 1
                if failures > 1:  # nothing readable even right after rewinding
                    raise CameraLost(f"The video {describe_source(self.source)} has no readable frames.")
                self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            else:
                failures += 1
                if failures >= MAX_FAILED_READS:
                    raise CameraLost(f"{describe_source(self.source).capitalize()} stopped delivering frames.")
                time.sleep(0.05)

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


def list_cameras(max_index: int = 5) -> list[int]:
    """Indices of webcams that open (probing is slow on some systems, so call it on demand only)."""
    found = []
    for index in range(max_index):
        capture = cv2.VideoCapture(index)
        if capture.isOpened():
            found.append(index)
        capture.release()
    return found
