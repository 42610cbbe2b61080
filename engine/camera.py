"""FrameSource: a webcam index, a video file, a folder of images or a network stream (rtsp://, http://,
https://, through OpenCV's FFmpeg backend), read as timestamped RGB frames.

A lost device is reported (CameraLost: it may come back, try again) instead of hanging; a lost network stream is
reconnected first; a source that cannot work as given is BadInput (a path that does not exist, a file that is not
a video: trying again cannot help). A video file loops unless told to play once.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from .errors import BadInput, CameraLost, UnreadableImage
from .images import IMAGE_SUFFIXES, load_image, refuse_huge_frames, video_capture

MAX_FAILED_READS = 10  # a webcam may drop a frame or two; ten in a row means it is gone
RECONNECTS = 3  # a network stream that stops is opened again this many times before it counts as lost
RECONNECT_WAIT_S = 1.0
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
STREAM_TIMEOUT_MS = 5000  # opening or reading a network stream gives up after this, instead of hanging


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 RGB (H, W, 3)
    index: int
    timestamp: float  # s: time.monotonic() when read; for a file not played in real time, its own clock


def is_stream_url(source: str) -> bool:
    return source.lower().startswith(STREAM_SCHEMES)


def describe_source(source: str) -> str:
    """The source in words, without a password a stream's address may carry."""
    if source.isdigit():
        return f"camera {source}"
    if is_stream_url(source):
        parts = urlsplit(source)
        return f"the stream {parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return Path(source).name


class FrameSource:
    """Iterate over frames; `fps` is the source's nominal rate. A file is paced to it when `realtime`; otherwise
    it is read as fast as it is asked for, and its frames carry the file's own clock (frame index / fps)."""

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

    @property
    def is_live(self) -> bool:
        """A webcam or a network stream: frames come at their own pace and a lost one may come back."""
        return self.is_camera or is_stream_url(self.source)

    def _open(self) -> None:
        path = Path(self.source)
        if self.is_camera:
            self.capture = cv2.VideoCapture(int(self.source))
        elif is_stream_url(self.source):
            self.capture = open_stream(self.source)
            if not self.capture.isOpened():
                raise CameraLost(f"Cannot open {describe_source(self.source)}: check its address, that the camera "
                                 "serves it and that this machine can reach it.")
        elif path.is_dir():
            self.images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.images:
                raise BadInput(f"The folder {path} holds no images.")
            return
        elif path.is_file():
            self.capture = video_capture(path)
            if not self.capture.isOpened():
                raise BadInput(f"The camera source {path} is not a video OpenCV can read.")
        elif path.exists():
            raise BadInput(f"The camera source {path} is neither a video file nor a folder.")
        else:
            raise BadInput(f"The camera source {path} was not found.")
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
            if self.realtime and not self.is_live:
                next_due += period
                time.sleep(max(0.0, next_due - time.monotonic()))
            own_clock = not self.realtime and not self.is_live
            yield Frame(image, index, index * period if own_clock else time.monotonic())

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
            elif is_stream_url(self.source):
                failures += 1
                if failures >= MAX_FAILED_READS:
                    self._reconnect()
                    failures = 0
            elif not self.is_camera:
                if not self.loop:
                    return
                failures += 1
                if failures > 1:  # nothing readable even right after rewinding
                    raise BadInput(f"The video {describe_source(self.source)} has no readable frames.")
                self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            else:
                failures += 1
                if failures >= MAX_FAILED_READS:
                    raise CameraLost(f"{describe_source(self.source).capitalize()} stopped delivering frames.")
                time.sleep(0.05)

    def _reconnect(self) -> None:
        """Open a network stream again after it stopped; CameraLost after RECONNECTS tries."""
        for _ in range(RECONNECTS):
            if self.capture is not None:
                self.capture.release()
            time.sleep(RECONNECT_WAIT_S)
            self.capture = open_stream(self.source)
            if self.capture.isOpened():
                return
        raise CameraLost(f"Lost {describe_source(self.source)} and could not reconnect ({RECONNECTS} tries, "
                         f"{RECONNECT_WAIT_S:g} s apart).")

    def close(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


def open_stream(url: str) -> cv2.VideoCapture:
    """A network stream through OpenCV's FFmpeg backend, with timeouts on opening and reading."""
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                                                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])


def list_cameras(max_index: int = 5) -> list[int]:
    """Indices of webcams that open (probing is slow on some systems, so call it on demand only)."""
    found = []
    for index in range(max_index):
        capture = cv2.VideoCapture(index)
        if capture.isOpened():
            found.append(index)
        capture.release()
    return found
