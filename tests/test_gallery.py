"""The SQLite gallery: persistence, real deletion, crash safety, export/import, bad files."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine.errors import EncoderMismatch, GalleryError, UnknownPerson
from engine.gallery import Gallery

ENCODER = "test_encoder:000000000000"


def unit_vectors(n, seed):
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "g.sqlite", ENCODER)
    g.enroll("Ada", unit_vectors(3, 1), ["a1.jpg", "a2.jpg", "camera"], [b"jpeg-ada", None, None])
    g.enroll("Grace", unit_vectors(1, 2), ["g.jpg"])
    yield g
    g.close()


def test_people_and_embeddings_survive_reopening(gallery, tmp_path):
    gallery.close()
    again = Gallery(tmp_path / "g.sqlite", ENCODER)
    assert [(p.name, p.embedding_count) for p in again.people()] == [("Ada", 3), ("Grace", 1)]
    assert np.array_equal(again.embeddings_of("Ada"), unit_vectors(3, 1))
    assert again.people()[0].thumbnail == b"jpeg-ada"
    matrix = again.matrix()
    assert matrix.embeddings.shape == (4, 128) and matrix.names == ("Ada", "Grace")
    assert matrix.owners.tolist() == [0, 0, 0, 1]


def test_enrolling_again_appends_and_the_matrix_follows(gallery):
    before = gallery.matrix()
    gallery.enroll("Grace", unit_vectors(2, 3), ["x", "y"])
    assert gallery.matrix() is not before and len(gallery.matrix().embeddings) == 6
    assert gallery.matrix() is gallery.matrix()  # cached while nothing changes


def test_another_connection_sees_changes(gallery, tmp_path):
    other = Gallery(tmp_path / "g.sqlite", ENCODER)
    assert len(other.matrix().embeddings) == 4
    gallery.enroll("Linus", unit_vectors(1, 4), ["l"])
    assert len(other.matrix().embeddings) == 5


def test_rename_and_unknown_names(gallery):
    gallery.rename("Grace", "Grace Hopper")
    assert [p.name for p in gallery.people()] == ["Ada", "Grace Hopper"]
    with pytest.raises(UnknownPerson):
        gallery.embeddings_of("Grace")
    with pytest.raises(GalleryError, match="already enrolled"):
        gallery.rename("Ada", "Grace Hopper")


def test_deleted_faces_leave_no_trace_in_the_files(gallery, tmp_path):
    secret = gallery.embeddings_of("Ada")[0].tobytes()
    gallery.log_event("identify", "Ada", 0.3, "kiosk")
    gallery.delete("Ada")
    assert [p.name for p in gallery.people()] == ["Grace"]
    assert all(e[2] != "Ada" for e in gallery.events())
    for suffix in ("", "-wal"):
        path = tmp_path / f"g.sqlite{suffix}"
        raw = path.read_bytes() if path.exists() else b""
        assert secret not in raw and b"jpeg-ada" not in raw and b"Ada" not in raw


def test_delete_all_leaves_an_empty_gallery_and_no_trace(gallery, tmp_path):
    secret = gallery.embeddings_of("Grace")[0].tobytes()
    gallery.delete_all()
    assert gallery.people() == [] and len(gallery.matrix().embeddings) == 0
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("g.sqlite*"))
    assert secret not in raw and b"Grace" not in raw and b"jpeg-ada" not in raw


def test_export_import_round_trip_and_no_duplicates(gallery, tmp_path):
    gallery.log_event("verify", "Ada", 0.2, "private log line")
    gallery.export(tmp_path / "export.likeness")
    assert b"private log line" not in (tmp_path / "export.likeness").read_bytes()
    fresh = Gallery(tmp_path / "fresh.sqlite", ENCODER)
    report = fresh.import_(tmp_path / "export.likeness")
    assert (report.people, report.embeddings) == (2, 4)
    assert np.array_equal(fresh.matrix().embeddings, gallery.matrix().embeddings)
    assert fresh.import_(tmp_path / "export.likeness").duplicates_skipped == 4


def test_another_encoders_embeddings_are_refused(gallery, tmp_path):
    gallery.export(tmp_path / "export.likeness")
    with pytest.raises(EncoderMismatch, match="encoder"):
        Gallery(tmp_path / "g.sqlite", "other_encoder:111111111111")
    other = Gallery(tmp_path / "other.sqlite", "other_encoder:111111111111")
    with pytest.raises(EncoderMismatch):
        other.import_(tmp_path / "export.likeness")


def test_a_damaged_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.sqlite").write_bytes(b"not a database at all" * 200)
    with pytest.raises(GalleryError, match="damaged or not a Likeness gallery"):
        Gallery(tmp_path / "bad.sqlite", ENCODER)
    with pytest.raises(GalleryError, match="not a Likeness gallery export"):
        Gallery(tmp_path / "ok.sqlite", ENCODER).import_(tmp_path / "bad.sqlite")


def test_a_full_disk_loses_nothing(gallery):
    gallery._db.execute(f"PRAGMA max_page_count={gallery._db.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(GalleryError, match="full"):
        gallery.enroll("Big", unit_vectors(200, 5), ["x"] * 200, [bytes(4000)] * 200)
    assert [p.name for p in gallery.people()] == ["Ada", "Grace"]


def test_a_crash_in_the_middle_of_a_write_leaves_the_previous_state(gallery, tmp_path):
    crash = textwrap.dedent(f"""
        import os, numpy as np
        from engine.gallery import Gallery
        g = Gallery({str(tmp_path / 'g.sqlite')!r}, {ENCODER!r})
        g._db.execute("BEGIN IMMEDIATE")
        g._db.execute("INSERT INTO people (name, created) VALUES ('Half', 'now')")
        os._exit(9)  # dies before COMMIT, as a power cut would
    """)
    result = subprocess.run([sys.executable, "-c", crash], cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    assert result.returncode == 9
    again = Gallery(tmp_path / "g.sqlite", ENCODER)
    assert [p.name for p in again.people()] == ["Ada", "Grace"]
    again.enroll("Whole", unit_vectors(1, 6), ["w"])
    assert "Whole" in [p.name for p in again.people()]
