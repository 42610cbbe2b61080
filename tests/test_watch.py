"""`python main.py watch`: the kiosk's stream decisions without a screen, on real clips through the real engine;
and network streams (a real HTTP server on this machine, read through OpenCV's FFmpeg backend)."""
import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.camera import RECONNECTS, FrameSource
from engine.cli import main
from engine.errors import CameraLost
from engine.config import load_settings
from engine.recognizer import gallery_for

from conftest import FIXTURES

PHONE_REPLAY = FIXTURES / "liveness" / "zubair_live_plus_phone_replay.mp4"
WEBCAM = FIXTURES / "videos" / "zubair_live_webcam.mov"
ROOT = Path(__file__).parents[1]


@pytest.fixture
def zubair(tmp_path, zubair_photo):
    """A gallery with Zubair, enrolled from a frame of his webcam clip."""
    gallery = ["--gallery", str(tmp_path / "gallery.sqlite")]
    assert main(["enroll", "Zubair", zubair_photo, *gallery]) == 0
    return gallery


def test_watch_once_names_the_person_and_calls_his_phone_replay_a_spoof(zubair, capsys):
    capsys.readouterr()
    assert main(["watch", "--once", "--source", str(PHONE_REPLAY), *zubair]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert all(len(row) == 8 for row in rows)  # time, stream time, track, decision, name, distance, score, reasons
    decisions = {row[3] for row in rows}
    assert {"recognized", "spoof"} <= decisions
    named = [row for row in rows if row[4] != "-"]
    # nothing else is named: the phone's line says whom it looked like among its reasons
    assert named and all(row[3] == "recognized" and row[4] == "Zubair" for row in named)
    spoofs = [row for row in rows if row[3] == "spoof"]
    assert all(row[2] not in {r[2] for r in named} for row in spoofs)  # the phone's track is never the person's
    assert any("looked like Zubair" in row[7] for row in spoofs)
    gallery = gallery_for(load_settings(), zubair[1])
    events = {(e.kind, e.person) for e in gallery.events()}
    gallery.close()
    assert ("recognized", "Zubair") in events and ("spoof", "Zubair") in events


def test_watch_refuses_a_missing_source_and_an_empty_gallery(tmp_path, capsys):
    assert main(["watch", "--source", str(tmp_path / "nothing.mp4"), "--gallery", str(tmp_path / "g.sqlite")]) == 2
    assert main(["watch", "--once", "--source", str(WEBCAM), "--gallery", str(tmp_path / "g.sqlite")]) == 2
    assert "enroll someone first" in capsys.readouterr().err


def test_ctrl_c_stops_watch_cleanly(zubair, tmp_path):
    process = subprocess.Popen([sys.executable, "main.py", "watch", "--source", str(WEBCAM), *zubair], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "LIKENESS_HOME": str(tmp_path / "home")})
    try:
        deadline = time.monotonic() + 120
        while "Ctrl+C stops" not in (line := process.stderr.readline()) and time.monotonic() < deadline:
            assert line or process.poll() is None, process.stderr.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
        said = process.stderr.read()
        assert "stopped" in said and "Traceback" not in said
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def http_server():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WEBCAM.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()


def test_a_network_stream_is_read_reconnected_and_its_loss_said(http_server):
    url = f"http://user:secret@127.0.0.1:{http_server.server_address[1]}/{WEBCAM.name}"
    length = sum(1 for _ in FrameSource(str(WEBCAM), loop=False, realtime=False).frames())
    stream = FrameSource(url)
    assert stream.is_live
    frames = stream.frames()
    # the server's file ends like a stream that stops: the source opens it again and goes on
    assert sum(1 for _, _ in zip(range(length + 30), frames)) == length + 30
    http_server.shutdown()
    http_server.server_close()
    with pytest.raises(CameraLost) as lost:
        for _ in frames:
            pass
    assert f"could not reconnect ({RECONNECTS} tries" in str(lost.value) and "secret" not in str(lost.value)
    with pytest.raises(CameraLost, match="Cannot open the stream http://127.0.0.1:9/x.mp4"):
        FrameSource("http://127.0.0.1:9/x.mp4")
