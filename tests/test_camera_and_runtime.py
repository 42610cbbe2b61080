"""The camera stand-ins (video file, image folder) and the ONNX Runtime session factory."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.camera import FrameSource
from engine.errors import BadInput, ModelUnavailable
from engine.runtime import onnx_session, model_path

from conftest import FIXTURES

VIDEO = FIXTURES / "videos" / "zubair_live_webcam.mov"


def test_a_video_file_plays_once_or_loops():
    source = FrameSource(str(VIDEO), loop=False, realtime=False)
    frames = list(source.frames())
    assert source.fps == pytest.approx(15, abs=1)
    assert 150 < len(frames) < 250 and frames[0].image.shape == (540, 960, 3)
    assert all(b.timestamp >= a.timestamp for a, b in zip(frames, frames[1:]))
    looping = FrameSource(str(VIDEO), loop=True, realtime=False).frames()
    assert sum(1 for _, _ in zip(range(len(frames) + 20), looping)) == len(frames) + 20


def test_a_folder_of_images_is_a_camera(tmp_path):
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copy(FIXTURES / "faces" / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(FrameSource(str(tmp_path), loop=False, realtime=False).frames())
    assert len(frames) == 2 and frames[0].image.ndim == 3


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(BadInput, match=f"The camera source {tmp_path / 'nothing.mp4'} was not found."):
        FrameSource(str(tmp_path / "nothing.mp4"))
    with pytest.raises(BadInput, match="holds no images"):
        FrameSource(str(tmp_path))
    (tmp_path / "notes.txt").write_text("a shopping list")
    with pytest.raises(BadInput, match="notes.txt is not a video OpenCV can read"):
        FrameSource(str(tmp_path / "notes.txt"))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(BadInput):  # either not a video at all, or no frame can be read: trying again cannot help
        list(FrameSource(str(tmp_path / "broken.mp4"), realtime=False).frames())


def test_the_provider_in_use_is_reported_in_words():
    session, report = onnx_session(model_path("retinaface_mnet025.onnx"), use_gpu=True)
    assert report.provider in ("CUDA", "CPU") and report.reason
    if report.provider == "CPU":
        assert "CUDA" in report.reason or "driver" in report.reason or "GPU" in report.reason
    _, off = onnx_session(model_path("retinaface_mnet025.onnx"), use_gpu=False)
    assert str(off) == "CPU (GPU use is off in the settings)"
    assert np.asarray(session.get_inputs()[0].shape).size == 4


def test_onnx_runtime_records_no_telemetry(tmp_path):
    """Left alone, importing ONNX Runtime writes a device id and an event queue (OS, CPU, Python path) under
    ~/.cache/Microsoft; with the engine nothing is written outside Likeness's own data folder."""
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}  # the engine must set it itself
    env.update(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / ".cache"))
    code = "from engine.runtime import model_path, onnx_session; onnx_session(model_path('retinaface_mnet025.onnx'), False)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    own = Path(os.environ["LIKENESS_HOME"])  # the model sums checked once (engine.runtime), nothing else
    assert [p for p in tmp_path.rglob("*") if own != p and own not in p.parents] == []


def test_a_model_file_is_hashed_once_and_a_changed_one_again(tmp_path, monkeypatch):
    from engine import runtime

    models = tmp_path / "models"
    models.mkdir()
    model = models / "m.onnx"
    model.write_bytes(b"weights")
    (models / "checksums.sha256").write_text(f"{runtime.file_sha256(model)}  m.onnx\n")
    hashed = []
    monkeypatch.setattr(runtime, "file_sha256", lambda path: hashed.append(path) or "x" * 64)
    runtime._verified.cache_clear()
    with pytest.raises(ModelUnavailable, match="damaged"):  # the spy's sum differs: hashed, refused, not remembered
        runtime.model_path("m.onnx", models)
    monkeypatch.undo()
    runtime._verified.cache_clear()
    assert runtime.model_path("m.onnx", models) == model  # hashed and remembered
    runtime._verified.cache_clear()
    monkeypatch.setattr(runtime, "file_sha256", lambda path: hashed.append(path) or "x" * 64)
    assert runtime.model_path("m.onnx", models) == model  # a new process: remembered, not hashed
    assert len(hashed) == 1
    model.write_bytes(b"other weights")  # another size: hashed again, and refused
    with pytest.raises(ModelUnavailable, match="damaged"):
        runtime.model_path("m.onnx", models)
    assert len(hashed) == 2
