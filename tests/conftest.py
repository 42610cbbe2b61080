"""Shared test set-up: Qt without a display, a private home so no test touches the user's data, and
generated image files."""
import io
import os
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def wait_until(condition, timeout: float = 5.0) -> bool:
    """True once condition() is, polling for at most `timeout` seconds (another thread, process or machine
    catches up within that)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def unit_vectors(n: int, seed: int, dimension: int = 128) -> np.ndarray:
    """n random unit vectors: embeddings where only their storage matters."""
    v = np.random.default_rng(seed).normal(size=(n, dimension)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Settings and gallery of each test live in its own temporary folder."""
    monkeypatch.setenv("LIKENESS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header declares width x height pixels (its pixel data is one row)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b"")


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF of a few dozen bytes whose screen and image declare width x height pixels (2x2 of data)."""
    buffer = io.BytesIO()
    Image.new("L", (2, 2)).save(buffer, "GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = struct.pack("<HH", width, height)
    image = data.index(b"\x2c")  # the image descriptor
    data[image + 5:image + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def write_odd_formats(rgb, folder: Path) -> dict[str, Path]:
    """The photo (uint8 RGB) as 16-bit, grey and alpha PNGs, a CMYK JPEG and a two-frame GIF (the photo first)."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    cv2.imwrite(str(folder / "deep.png"), bgr.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "alpha.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {name: folder / name for name in ("deep.png", "grey.png", "alpha.png", "cmyk.jpg", "animated.gif")}


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the whole session (tests/postgres_server.py), stopped at the end."""
    from postgres_server import PostgresServer

    server = PostgresServer()  # says what to install when PostgreSQL's server is missing
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server):
    """The URL of a fresh, empty database on the throwaway server."""
    return postgres_server.new_database()


@pytest.fixture
def broker(tmp_path):
    """mosquitto on two free loopback ports (tests/mqtt_broker.py), stopped at the end."""
    from mqtt_broker import Broker

    folder = tmp_path / "broker"
    folder.mkdir()
    running = Broker(folder)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def receiver():
    """A webhook receiver on a free loopback port (tests/mqtt_broker.py)."""
    from mqtt_broker import Receiver

    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def zubair_photo(tmp_path):
    """Frame 20 of the webcam recording (tests/fixtures/videos), saved as a photo: the enrolment shot of its person."""
    capture = cv2.VideoCapture(str(FIXTURES / "videos" / "zubair_live_webcam.mov"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 20)
    ok, frame = capture.read()
    capture.release()
    assert ok
    path = tmp_path / "zubair.jpg"
    cv2.imwrite(str(path), frame)
    return str(path)
