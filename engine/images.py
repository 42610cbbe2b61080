"""Images and videos from files, and the one resize to a longest side.

`load_image` is the one door for image files: it refuses, in one sentence, anything that is not a regular
file, is empty, declares more pixels than MAX_PIXELS (read from the header, before decoding), is one pixel
wide or high, or is truncated; 16-bit, grey, CMYK, alpha and animated images come out as uint8 RGB.
"""
from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import BadInput, UnreadableImage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # a 50-megapixel photo decodes into 150 MB; 20000x20000 ones took gigabytes
MIN_SIDE = 2  # px
TOO_MANY = f"more than the {MAX_PIXELS // 10**6} million pixels allowed"
JPEG_START, JPEG_END, JPEG_SCAN = b"\xff\xd8", b"\xff\xd9", 0xDA
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# libjpeg's words when the compressed data stops before the image is whole (bytes after it, such as an end
# marker appended to a cut file, do not make it whole); "extraneous bytes" and the like decode fine
CUT_SHORT = ("corrupt jpeg data: premature end of data segment", "premature end of jpeg file")
_STDERR = threading.Lock()  # one redirection of file descriptor 2 at a time


def why_unreadable(path: Path) -> str | None:
    """Why the file at `path` cannot be read whole (missing, a folder, a device or pipe, empty), or None.

    Looks with os.stat only: a pipe or a device is never opened, so nothing here can hang."""
    try:
        info = os.stat(path)
    except OSError as error:
        return (error.strerror or str(error)).lower()
    if stat.S_ISDIR(info.st_mode):
        return "it is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file but a device, pipe or socket"
    if info.st_size == 0:
        return "the file is empty"
    return None


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); raises UnreadableImage with the reason in one sentence."""
    path = Path(path)
    if why := why_unreadable(path):
        raise UnreadableImage(path, why)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableImage(path, (error.strerror or str(error)).lower()) from error
    kind = _checked_header(path, data)
    if is_truncated(data):
        raise UnreadableImage(path, f"the {kind} file is truncated or corrupt")
    with library_messages() as complaints:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableImage(path, f"its {kind} data is truncated, corrupt or of a kind OpenCV cannot decode")
    if any(line.lower().startswith(CUT_SHORT) for line in complaints):  # an end marker after a cut, say
        raise UnreadableImage(path, f"the {kind} file is truncated or corrupt")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@contextlib.contextmanager
def library_messages() -> Iterator[list[str]]:
    """The lines C libraries (libjpeg, libpng) print on stderr meanwhile, kept off the terminal (a command says
    what went wrong in one sentence) and handed to the caller when the block ends."""
    lines: list[str] = []
    with _STDERR, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _checked_header(path: Path, data: bytes) -> str | None:
    """The image format named by the header (e.g. "PNG"), after checking the size it declares; nothing is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's warnings (a big image, damaged metadata): the sentence says it
        try:
            with Image.open(io.BytesIO(data)) as header:
                (width, height), kind = header.size, header.format
        except Image.DecompressionBombError as error:
            raise UnreadableImage(path, f"it declares {TOO_MANY}") from error
        except UnidentifiedImageError as error:
            raise UnreadableImage(path, "it is not an image file (JPEG, PNG, BMP, GIF, TIFF, WebP, PPM)") from error
        except (OSError, ValueError, EOFError) as error:
            raise UnreadableImage(path, "its header is truncated or corrupt") from error
    if width * height > MAX_PIXELS:
        raise UnreadableImage(path, f"it is {width}x{height} pixels, {TOO_MANY}")
    if min(width, height) < MIN_SIDE:
        raise UnreadableImage(path, f"it is {width}x{height} pixels, too small to use")
    return kind


def is_truncated(data: bytes) -> bool:
    """Whether a JPEG or PNG file ends before its end marker (told before decoding: the decoders would print
    their own complaints, or show the missing part grey). Other formats: the decoder finds out."""
    if data.startswith(JPEG_START):
        return not jpeg_is_complete(data)
    if data.startswith(PNG_SIGNATURE):
        return not png_is_complete(data)
    return False


def png_is_complete(data: bytes) -> bool:
    """Whether a PNG's chunks, each skipped by its length, reach the IEND chunk (bytes after it are allowed)."""
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        position += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return position <= len(data)
    return False


def jpeg_is_complete(data: bytes) -> bool:
    """Whether a JPEG's compressed data reaches its end marker (bytes after the marker are allowed).

    The header segments are skipped by their lengths, so the end marker of an Exif thumbnail does not count."""
    position = len(JPEG_START)
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
        elif marker == JPEG_SCAN:
            return data.find(JPEG_END, position) != -1
        else:
            position += 2 + int.from_bytes(data[position + 2:position + 4], "big")
    return False


def video_frames(path: str | Path, every: int = 1):
    """Yield (index, timestamp in s from the video's frame rate, uint8 RGB) of every `every`-th frame of a video
    file played once; raises BadInput (one sentence) when it cannot be opened or has no readable frame."""
    path = Path(path)
    if why := why_unreadable(path):
        raise BadInput(f"Cannot read the video {path}: {why}.")
    capture = video_capture(path)
    if not capture.isOpened():
        raise BadInput(f"Cannot open the video {path}.")
    refuse_huge_frames(capture, path)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if 1 <= fps <= 240 else 30.0
    index, delivered = 0, 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % every == 0:
                delivered += 1
                yield index, index / fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    if delivered == 0:
        raise BadInput(f"The video {path} has no readable frames.")


def video_capture(path: Path) -> cv2.VideoCapture:
    """The video file at `path` opened by FFmpeg through its file: protocol, so that a name is only ever a name:
    a file called 'concat:a.avi|b.avi' or 'subfile,,start,...' is that file, not other files FFmpeg would join."""
    return cv2.VideoCapture("file:" + os.path.abspath(path), cv2.CAP_FFMPEG)


def refuse_huge_frames(capture: cv2.VideoCapture, path: Path) -> None:
    """BadInput, before any frame is decoded, when the video's frames declare more than MAX_PIXELS (the rule
    of still images: a 35-byte GIF declaring 16000x16000 would take 2.5 GB at its first frame)."""
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height > MAX_PIXELS:
        capture.release()
        raise BadInput(f"Cannot read the video {path}: its frames are {width}x{height} pixels, {TOO_MANY}.")


def resize_longest(image: np.ndarray, size: int) -> np.ndarray:
    """The image scaled, aspect ratio kept, so that its longest side is `size` px (no side below 1 px)."""
    scale = size / max(image.shape[:2])
    shape = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, shape, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
