"""`gallery reencode`: a gallery of one encoder moved to another, into a new gallery; the old one untouched."""
import shutil

import numpy as np

from engine.cli import main
from engine.config import Settings, load_settings, save_settings
from engine.faces.encoders import encoder_id, with_encoder
from engine.gallery import Gallery, default_path

from conftest import FIXTURES

FACES = FIXTURES / "faces"


def test_reencode_moves_everyone_to_the_new_encoder_and_keeps_the_old_gallery(tmp_path, capsys):
    save_settings(with_encoder(Settings(), "dlib+facenet"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama.jpg", "biden.jpg"):
        shutil.copy(FACES / name, photos / name)
    assert main(["enroll", "Obama", str(photos / "obama.jpg")]) == 0
    assert main(["enroll", "Biden", str(photos / "biden.jpg")]) == 0
    (photos / "biden.jpg").unlink()  # Biden's shot must come from the face stored with it
    old = default_path("dlib+facenet")
    before = old.read_bytes()
    capsys.readouterr()

    assert main(["gallery", "reencode"]) == 0  # to the default encoder
    out = capsys.readouterr().out
    assert "Re-embedded 2 people with dlib+sface" in out and "1 shot(s) from their photos, 1 from the stored faces" in out
    assert load_settings().recognition.encoder == "dlib+sface"
    with Gallery(default_path("dlib+sface"), encoder_id("dlib+sface")) as moved:
        assert sorted(moved.names()) == ["Biden", "Obama"]
        assert all(abs(np.linalg.norm(e) - 1) < 1e-4 for e in moved.matrix().embeddings)
    assert main(["identify", str(FACES / "obama2.jpg")]) == 0  # recognised with the new encoder and its tau
    assert "Obama (distance" in capsys.readouterr().out
    assert main(["identify", str(FIXTURES / "faces" / "lfw" / "Kate_Capshaw_0001.jpg")]) == 1
    assert old.read_bytes() == before  # never in place

    assert main(["gallery", "reencode"]) == 2  # nothing to move: already that encoder
    assert "already uses dlib+sface" in capsys.readouterr().err
