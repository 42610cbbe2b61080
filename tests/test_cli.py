"""The command line end to end on real photos: enroll, identify, verify, people, export/import, embed; its exit
codes, the installed `likeness` script, and the privacy of the data folder."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.config import RecognitionSettings
from engine.gallery import Gallery, default_path

from conftest import FIXTURES

FACES = FIXTURES / "faces"


@pytest.fixture
def gallery(tmp_path):
    return ["--gallery", str(tmp_path / "gallery.sqlite")]


def test_one_photo_enrolls_and_another_photo_is_recognized(gallery, capsys):
    assert main(["enroll", "Barack Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    assert main(["identify", str(FACES / "obama2.jpg"), *gallery]) == 0
    assert "Barack Obama (distance" in capsys.readouterr().out
    assert main(["identify", str(FACES / "biden.jpg"), *gallery]) == 1
    assert "not recognized" in capsys.readouterr().out


def test_verify_accepts_the_right_claim_and_rejects_a_wrong_one(gallery, capsys):
    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    assert main(["verify", "Obama", str(FACES / "obama2.jpg"), *gallery]) == 0
    assert "same person" in capsys.readouterr().out
    assert main(["verify", "Obama", str(FACES / "biden.jpg"), *gallery]) == 1
    assert "different person" in capsys.readouterr().out
    assert main(["verify", "Nobody", str(FACES / "biden.jpg"), *gallery]) == 2


def test_bad_photos_are_refused_and_the_gallery_is_untouched(gallery, tmp_path, capsys):
    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    before = (tmp_path / "gallery.sqlite").read_bytes()
    data = (FACES / "obama2.jpg").read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(data[: len(data) // 3])
    for photo in ("corrupt.jpg", FACES / "no_face_golden_gate.jpg"):
        assert main(["enroll", "Obama", str(tmp_path / photo), *gallery]) == 2
    err = capsys.readouterr().err
    assert "truncated or corrupt" in err and "No face" in err
    assert main(["people", *gallery]) == 0
    assert "Obama\t1 shot(s)" in capsys.readouterr().out
    assert len(before) > 0


def test_a_photo_of_someone_else_is_not_added_to_a_name_without_force(gallery, tmp_path, capsys):
    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    capsys.readouterr()
    assert main(["enroll", "Obama", str(FACES / "biden.jpg"), *gallery]) == 2
    err = capsys.readouterr().err
    assert "The face in biden.jpg does not match Obama's 1 shot (d = " in err and "--force" in err
    assert main(["enroll", "Obama", str(FACES / "obama2.jpg"), str(FACES / "biden.jpg"), *gallery]) == 2
    assert main(["enroll", "Newcomer", str(FACES / "obama.jpg"), str(FACES / "biden.jpg"), *gallery]) == 2
    capsys.readouterr()
    main(["people", *gallery])
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 1 and listing[0].startswith("Obama\t1 shot(s)")  # nothing enrolled, nobody new
    assert main(["enroll", "Obama", str(FACES / "biden.jpg"), "--force", *gallery]) == 0
    assert main(["enroll", "Obama", str(FACES / "obama2.jpg"), *gallery]) == 0  # the same person is welcome
    capsys.readouterr()
    main(["people", *gallery])
    assert "Obama\t3 shot(s)" in capsys.readouterr().out


def test_a_photo_with_two_faces_enrolls_its_subject_and_says_which(gallery, capsys):
    assert main(["enroll", "Someone", str(FACES / "two_people.jpg"), *gallery]) == 0
    assert "2 faces found; took the most central of the large ones, at (" in capsys.readouterr().err
    assert main(["enroll", "Someone else", str(FACES / "two_people.jpg"), "--largest", *gallery]) == 0
    assert "2 faces found; took the largest, at (" in capsys.readouterr().err


def test_people_rename_delete_and_export_import(gallery, tmp_path, capsys):
    main(["enroll", "Obama", str(FACES / "obama.jpg"), str(FACES / "obama2.jpg"), *gallery])
    main(["enroll", "Biden", str(FACES / "biden.jpg"), *gallery])
    assert main(["export", str(tmp_path / "export.likeness"), *gallery]) == 0
    assert main(["people", "rename", "Biden", "Joe Biden", *gallery]) == 0
    assert main(["people", "delete", "Obama", *gallery]) == 0
    capsys.readouterr()
    main(["people", *gallery])
    listing = capsys.readouterr().out
    assert "Joe Biden" in listing and "Obama" not in listing

    fresh = ["--gallery", str(tmp_path / "fresh.sqlite")]
    assert main(["import", str(tmp_path / "export.likeness"), *fresh]) == 0
    assert "importing [" in capsys.readouterr().err  # the progress bar, on stderr
    main(["people", *fresh])
    listing = capsys.readouterr().out
    assert "Obama\t2 shot(s)" in listing and "Biden\t1 shot(s)" in listing
    assert main(["identify", str(FACES / "obama2.jpg"), *fresh]) == 0


def test_embed_keeps_rows_aligned_with_nan_for_no_face(tmp_path, capsys):
    out = tmp_path / "rows.npy"
    images = [FACES / "obama.jpg", FACES / "no_face_golden_gate.jpg", FACES / "biden.jpg"]
    assert main(["embed", *map(str, images), "--out", str(out)]) == 0
    rows = np.load(out)
    assert rows.shape == (3, 256)  # the default encoder: dlib and SFace fused
    assert np.isnan(rows[1]).all() and not np.isnan(rows[[0, 2]]).any()
    assert np.allclose(np.linalg.norm(rows[[0, 2]], axis=1), 1, atol=1e-4)
    assert "no_face_golden_gate.jpg: no face found" in capsys.readouterr().err


def test_every_command_is_on_the_command_line():
    from engine.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"enroll", "verify", "identify", "people", "export", "import", "embed", "liveness", "style", "convnet",
            "train", "train-pairs", "calibrate"} <= set(commands)


def test_the_learned_pair_classifier_can_decide(gallery, capsys):
    from engine.config import Settings, save_settings

    save_settings(Settings().with_value("recognition.decision", "classifier"))
    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    assert main(["verify", "Obama", str(FACES / "obama2.jpg"), *gallery]) == 0
    assert "same person: P(same person) 0.9" in capsys.readouterr().out
    assert main(["verify", "Obama", str(FACES / "biden.jpg"), *gallery]) == 1
    assert "different person: P(same person) 0.0" in capsys.readouterr().out
    assert main(["identify", str(FACES / "biden.jpg"), *gallery]) == 1
    assert "not recognized (closest Obama at" in capsys.readouterr().out


# ---- exit codes: 0 done, 1 a negative decision, 2 refused with a sentence, 3 internal error ----

def test_the_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "1    a negative decision" in out and "3    internal error" in out
    assert "likeness.log" in out


def test_a_gallery_that_cannot_be_used_exits_2_with_a_sentence(tmp_path, capsys):
    (tmp_path / "notes.sqlite").write_text("not a database " * 100)
    assert main(["people", "--gallery", str(tmp_path / "notes.sqlite")]) == 2
    assert "is damaged or not a Likeness gallery" in capsys.readouterr().err


def test_embed_exits_2_on_an_unreadable_image_and_still_writes_every_row(tmp_path, capsys):
    (tmp_path / "empty.jpg").write_bytes(b"")
    out = tmp_path / "rows.npy"
    assert main(["embed", str(FACES / "obama.jpg"), str(tmp_path / "empty.jpg"), "--out", str(out)]) == 2
    rows = np.load(out)
    assert not np.isnan(rows[0]).any() and np.isnan(rows[1]).all()
    assert "the file is empty. Its row is NaN." in capsys.readouterr().err


def test_an_unexpected_error_exits_3_with_one_sentence_and_the_traceback_in_the_log(tmp_path, capsys, monkeypatch,
                                                                                     private_home):
    def broken_disk(*args, **kwargs):  # numpy standing in for any bug or surprise below the command
        raise RuntimeError("the disk controller caught fire")

    monkeypatch.setattr(np, "save", broken_disk)
    assert main(["embed", str(FACES / "obama.jpg"), "--out", str(tmp_path / "rows.npy")]) == 3
    log = private_home / "data" / "logs" / "likeness.log"
    assert capsys.readouterr().err == (
        f"internal error (RuntimeError: the disk controller caught fire); the traceback is in {log}.\n")
    text = log.read_text()
    assert "Traceback" in text and "in run_embed" in text and "RuntimeError: the disk controller caught fire" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_the_installed_likeness_script_runs_a_command(tmp_path):
    script = Path(sys.executable).with_name("likeness")  # [project.scripts] in pyproject.toml
    result = subprocess.run([str(script), "people", "list"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "LIKENESS_HOME": str(tmp_path)})
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "0 people\n")


# ---- privacy: faces and logs are readable by their owner only ----

def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_gallery_and_journal_are_readable_by_their_owner_only(private_home):
    data, gallery_file = private_home / "data", default_path(RecognitionSettings().encoder)
    assert main(["people", "list"]) == 0
    assert gallery_file.parent == data
    assert (mode(data), mode(data / "logs"), mode(gallery_file)) == (0o700, 0o700, 0o600)
    data.chmod(0o755)  # as an older version left them
    gallery_file.chmod(0o644)
    assert main(["people", "list"]) == 0
    assert (mode(data), mode(gallery_file)) == (0o700, 0o600)
    with Gallery(data / "second.sqlite", "some-encoder") as gallery:
        gallery.log_event("test")
        assert {p.name: mode(p) for p in data.glob("second.sqlite*")} == {
            "second.sqlite": 0o600, "second.sqlite-wal": 0o600, "second.sqlite-shm": 0o600}


@pytest.mark.parametrize("command", [
    ["embed", str(FACES / "obama.jpg"), "--out", "{missing}/rows.npy"],
    ["export", "{missing}/gallery.likeness"],
    ["style", str(FACES / "obama.jpg"), str(FACES / "biden.jpg"), "-o", "{missing}/out.png"],
    ["export", "{folder}"],
])
def test_an_output_in_a_missing_folder_is_refused_before_any_work(command, tmp_path, capsys):
    words = [w.format(missing=tmp_path / "no such folder", folder=tmp_path) for w in command]
    with pytest.raises(SystemExit) as done:
        main(words)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err or "is a folder" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("vector", ["hex(vector)", "zeroblob(512)"])  # a TypeError, then "distance nan", before
def test_a_damaged_shot_exits_2_with_a_sentence(gallery, tmp_path, capsys, vector):
    import sqlite3

    assert main(["enroll", "Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    with sqlite3.connect(tmp_path / "gallery.sqlite") as db:
        db.execute(f"UPDATE embeddings SET vector = {vector}")
    db.close()
    capsys.readouterr()
    assert main(["identify", str(FACES / "obama2.jpg"), *gallery]) == 2
    assert main(["verify", "Obama", str(FACES / "obama2.jpg"), *gallery]) == 2
    out, err = capsys.readouterr()
    assert "nan" not in out and err.count("holds a damaged shot of 'Obama'") == 2 and "Traceback" not in err


def test_a_file_name_with_a_newline_or_tab_cannot_forge_a_result_line(gallery, tmp_path, capsys):
    forged = tmp_path / "x.jpg\tBarack Obama (distance 0.100)\tbox=[0]\nintruder.jpg"
    forged.write_bytes((FACES / "biden.jpg").read_bytes())
    assert main(["enroll", "Barack Obama", str(FACES / "obama.jpg"), *gallery]) == 0
    capsys.readouterr()
    assert main(["identify", str(forged), *gallery]) == 1
    assert main(["embed", str(forged)]) == 0
    out = capsys.readouterr().out
    assert main(["identify", str(tmp_path / "missing\nerror: forged.jpg"), *gallery]) == 2
    err = capsys.readouterr().err
    identified, embedded = out.splitlines()  # one line per face, one per image
    assert identified.count("\t") == 2 and "\tnot recognized" in identified and "\\t" in identified
    assert embedded.startswith(f"{tmp_path}/x.jpg\\tBarack") and embedded.count("\t") == 1
    assert len(err.splitlines()) == 1 and "missing\\nerror" in err



def test_matplotlib_keeps_its_font_cache_in_the_data_folder(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPL"))}
    env.update(HOME=str(user), LIKENESS_HOME=str(tmp_path / "likeness"))
    script = "from engine.cli import main; main(['people']); import matplotlib.font_manager"
    subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parent.parent, env=env, check=True,
                   capture_output=True)
    assert not (user / ".cache").exists() and not (user / ".config").exists()
    assert list((tmp_path / "likeness" / "data" / "matplotlib").glob("fontlist-*.json"))
