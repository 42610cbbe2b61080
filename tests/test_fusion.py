"""dlib + SFace (the default) and dlib + FaceNet fused into one vector, on real photos: the distance, the decisions
and the galleries of each; a gallery of the earlier default still opens when the default changes."""
import numpy as np
import pytest

from engine.config import RecognitionSettings
from engine.errors import EncoderMismatch
from engine.faces.encoders import DEFAULT_ENCODER, ENCODER_FACTS, encoder_id
from engine.gallery import Gallery, default_path
from engine.images import load_image
from engine.pipeline import FacePipeline

from conftest import FIXTURES

FACES = FIXTURES / "faces"


@pytest.fixture(scope="module", params=["dlib+sface", "dlib+facenet"])
def fused(request):
    return FacePipeline(RecognitionSettings(encoder=request.param, use_gpu=False))


def embedding(pipeline, name):
    return pipeline.embed_one(load_image(FACES / name)).face.embedding


def test_the_fused_distance_is_the_weighted_distance_of_its_parts(fused):
    encoder = fused.encoder
    a, b = embedding(fused, "obama.jpg"), embedding(fused, "biden.jpg")
    assert a.shape == (encoder.EMBEDDING_SIZE,) and abs(np.linalg.norm(a) - 1) < 1e-5
    dlib_weight, facenet_weight = encoder.weights
    assert abs(dlib_weight ** 2 + facenet_weight ** 2 - 1) < 1e-5
    d_dlib = np.linalg.norm(a[:128] / dlib_weight - b[:128] / dlib_weight)
    d_partner = np.linalg.norm(a[128:] / facenet_weight - b[128:] / facenet_weight)
    fused_distance = np.linalg.norm(a - b)
    assert fused_distance == pytest.approx(np.hypot(dlib_weight * d_dlib, facenet_weight * d_partner), rel=1e-5)


def test_the_fused_encoder_decides_on_real_faces_at_its_own_tau(fused):
    tau = ENCODER_FACTS[fused.settings.encoder].tau
    obama, obama2, biden = (embedding(fused, name) for name in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    assert np.linalg.norm(obama - obama2) < tau < np.linalg.norm(obama - biden)
    for lfw in ("Charles_Schumer", "Kate_Capshaw"):
        same = np.linalg.norm(embedding(fused, f"lfw/{lfw}_0001.jpg") - embedding(fused, f"lfw/{lfw}_0002.jpg"))
        assert same < tau


def test_settings_default_to_the_default_encoder_and_its_tau():
    defaults = RecognitionSettings()
    assert defaults.encoder == DEFAULT_ENCODER == "dlib+sface" and defaults.tau == ENCODER_FACTS[DEFAULT_ENCODER].tau


def test_a_fused_gallery_refuses_a_single_encoder_one(tmp_path):
    path = tmp_path / "gallery.sqlite"
    with Gallery(path, encoder_id("dlib")) as dlib_gallery:
        dlib_gallery.enroll("Someone", np.eye(1, 128, dtype=np.float32), ["photo.jpg"])
    with pytest.raises(EncoderMismatch):
        Gallery(path, encoder_id("dlib+facenet"))
    assert default_path("dlib+facenet") != default_path("dlib") != default_path("facenet")


def test_a_gallery_of_the_earlier_default_keeps_working_and_says_how_to_move(capsys):
    from engine.cli import main
    from engine.config import Settings, save_settings, settings_file
    from engine.faces.encoders import with_encoder

    save_settings(with_encoder(Settings(), "dlib+facenet"))
    assert main(["enroll", "Obama", str(FACES / "obama.jpg")]) == 0
    settings_file().unlink()  # as Likeness left it: no settings file until something was changed
    capsys.readouterr()
    assert main(["identify", str(FACES / "obama2.jpg")]) == 0
    out, err = capsys.readouterr()
    assert "Obama (distance" in out
    assert "gallery reencode" in err and DEFAULT_ENCODER in err
