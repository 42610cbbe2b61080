"""A fixed corpus of bad files, generated here, through every command that reads an image (embed, enroll, verify,
identify, liveness, style): each ends in exit 2 with a sentence naming the problem, never a traceback, and the
gallery keeps exactly what it held. Odd but valid files (16-bit, CMYK, grey, alpha, animated, a name that is
not UTF-8) work."""
import os
import sqlite3
from contextlib import closing

import cv2
import numpy as np
import pytest

from engine.config import RecognitionSettings

from main import main

from conftest import FIXTURES, gif_declaring, png_declaring, write_odd_formats

FACES = FIXTURES / "faces"


def png(height, width) -> bytes:
    return cv2.imencode(".png", np.full((height, width, 3), 200, np.uint8))[1].tobytes()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, str]:
    """Path -> the words the sentence about it must contain."""
    folder = tmp_path_factory.mktemp("bad")
    photo, photo_png = (FACES / "obama2.jpg").read_bytes(), cv2.imencode(".png", cv2.imread(str(FACES / "biden.jpg")))[1]
    files = {
        "truncated.jpg": (photo[: len(photo) // 2], "truncated"),
        "truncated.png": (photo_png.tobytes()[:20_000], "truncated"),
        "cut-then-end-marker.jpg": (photo[: len(photo) // 2] + b"\xff\xd9", "truncated"),
        "huge.gif": (gif_declaring(16000, 16000), "million pixels"),  # a video to `liveness`: its frame rule too
        "random.jpg": (np.random.default_rng(12).bytes(4096), "not an image file"),
        "zero.png": (b"", "the file is empty"),
        "huge.png": (png_declaring(100_000, 100_000), "million pixels"),
        "dot.png": (png(1, 1), "too small"),
        "line.png": (png(1, 400), "too small"),
        "column.png": (png(400, 1), "too small"),
        os.fsdecode(b"caf\xe9-\xff.jpg"): (photo[:20_000], "truncated"),  # a name that is not UTF-8
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    (folder / "folder.jpg").mkdir()
    os.mkfifo(folder / "pipe.jpg")
    cases = {str(folder / name): words for name, (_, words) in files.items()}
    cases.update({str(folder / "folder.jpg"): "it is a folder", str(folder / "pipe.jpg"): "not a regular file",
                  "/dev/null": "not a regular file", str(folder / "missing.jpg"): "no such file",
                  str(folder / ("long" * 70 + ".jpg")): "file name too long"})
    return cases


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> str:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LIKENESS_HOME", str(home))
        assert main(["enroll", "Obama", str(FACES / "obama.jpg"), "--gallery", str(home / "gallery.sqlite")]) == 0
    return str(home / "gallery.sqlite")


def contents(gallery: str) -> tuple:
    """Everything a person could lose or gain: people, their embeddings and the log."""
    with closing(sqlite3.connect(f"file:{gallery}?mode=ro", uri=True)) as db:
        return tuple(db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                     for table in ("people", "embeddings", "events"))


COMMANDS = {
    "embed": lambda image, gallery, out: ["embed", image],
    "enroll": lambda image, gallery, out: ["enroll", "Obama", image, "--gallery", gallery],
    "verify": lambda image, gallery, out: ["verify", "Obama", image, "--gallery", gallery],
    "identify": lambda image, gallery, out: ["identify", image, "--gallery", gallery],
    "liveness": lambda image, gallery, out: ["liveness", image],
    "style": lambda image, gallery, out: ["style", image, str(FACES / "biden.jpg"), "-o", out],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_bad_file_is_refused_in_a_sentence_and_the_gallery_keeps_what_it_held(command, corpus, gallery,
                                                                                    tmp_path, capsys):
    before = contents(gallery)
    for image, words in corpus.items():
        code = main(COMMANDS[command](image, gallery, str(tmp_path / "out.png")))
        out, err = capsys.readouterr()
        assert code == 2, (image, out, err)
        assert "error: " in err and words in err, (image, err)
        assert "Traceback" not in out + err and contents(gallery) == before, image
    assert not (tmp_path / "out.png").exists()


def test_odd_but_valid_images_work(tmp_path):
    files = write_odd_formats(cv2.imread(str(FACES / "obama.jpg"))[:, :, ::-1], tmp_path)
    out = tmp_path / "rows.npy"
    assert main(["embed", str(FACES / "obama.jpg"), *map(str, files.values()), "--out", str(out)]) == 0
    rows = np.load(out)
    assert np.linalg.norm(rows[1:] - rows[0], axis=1).max() < RecognitionSettings().tau / 2  # the same face each time


def test_a_file_name_that_is_not_utf8_enrolls_and_is_judged(tmp_path, capsys):
    odd = tmp_path / os.fsdecode(b"ob\xe1ma-\xff.jpg")
    odd.write_bytes((FACES / "obama.jpg").read_bytes())
    gallery = ["--gallery", str(tmp_path / "gallery.sqlite")]
    assert main(["enroll", "Obama", str(odd), *gallery]) == 0
    assert main(["identify", str(odd), *gallery]) == 0
    assert main(["liveness", str(odd)]) in (0, 1)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "ob\\udce1ma-\\udcff.jpg: face 0" in out
    with closing(sqlite3.connect(tmp_path / "gallery.sqlite")) as db:
        assert db.execute("SELECT source FROM embeddings").fetchone()[0].endswith("ob\\xe1ma-\\xff.jpg")
