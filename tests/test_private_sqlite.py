"""The owner-only SQLite files (gallery, a shared gallery's copy, the outbox) keep SQLite's locks: opening one
again in the same process never drops the locks of the connection already open, so another process cannot
take itself for the last user and unlink the write-ahead log under it."""
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.errors import BadInput
from engine.events import Outbox
from engine.gallery import Gallery
from engine.private_sqlite import open_private

from conftest import unit_vectors

REPO = Path(__file__).resolve().parent.parent
ENCODER = "test_encoder:000000000000"

# A writer that keeps its connection: five rows, then (on "reopen") the file opened and closed again in the
# same process the way a second outbox or a deletion path does, then (on "write") five more rows.
WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from engine.private_sqlite import open_private
    path = Path(sys.argv[1])
    db = open_private(path)
    db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    for i in range(5):
        db.execute("INSERT INTO t VALUES (?)", (i,))
    print("ready", flush=True)
    sys.stdin.readline()
    open_private(path).close()
    print("reopened", flush=True)
    sys.stdin.readline()
    for i in range(5, 10):
        db.execute("INSERT INTO t VALUES (?)", (i,))
    print("written", flush=True)
    sys.stdin.readline()
""")


def step(writer: subprocess.Popen, expected: str) -> None:
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == expected
    writer.stdin.write("\n")
    writer.stdin.flush()


def test_reopening_a_file_in_use_keeps_its_locks_and_loses_nothing_to_a_kill(tmp_path):
    path = tmp_path / "outbox.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        step(writer, "ready")
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "reopened"
        # Another process opens, reads and closes the file: it must see the writer and leave the WAL alone.
        other = sqlite3.connect(path)
        assert other.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 5
        other.close()
        assert writer.stdin is not None
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "written"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    with sqlite3.connect(path) as after:
        assert sorted(r[0] for r in after.execute("SELECT x FROM t")) == list(range(10))
        assert after.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("kind", ["outbox", "gallery", "plain"])
def test_a_new_file_is_owner_only_and_an_existing_one_is_not_opened_outside_sqlite(tmp_path, kind):
    path = tmp_path / "faces" / f"{kind}.sqlite"
    if kind == "outbox":
        Outbox(path, []).close()
    elif kind == "gallery":
        Gallery(path, ENCODER).close()
    else:
        open_private(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    os.chmod(path, 0o644)  # e.g. restored from a backup: made owner-only again by path, not through a descriptor
    open_private(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_gallery_reopened_beside_an_open_one_loses_no_enrollment(tmp_path):
    """The window's pipeline thread and a deletion path open the same gallery file in one process."""
    path = tmp_path / "g.sqlite"
    first = Gallery(path, ENCODER)
    first.enroll("Ada", unit_vectors(2, 1), ["a", "b"])
    second = Gallery(path, ENCODER)
    second.close()
    first.enroll("Grace", unit_vectors(1, 2), ["g"])
    first.close()
    with Gallery(path, ENCODER) as again:
        assert sorted(again.names()) == ["Ada", "Grace"]


def test_exporting_onto_the_gallery_file_itself_is_refused(tmp_path):
    path = tmp_path / "g.sqlite"
    with Gallery(path, ENCODER) as gallery:
        gallery.enroll("Ada", unit_vectors(1, 1), ["a"])
        gallery.log_event("identify", "Ada", 0.3)
        with pytest.raises(BadInput, match="is the gallery itself"):
            gallery.export(tmp_path / "." / "g.sqlite")
        gallery.enroll("Grace", unit_vectors(1, 2), ["g"])
    with Gallery(path, ENCODER) as again:
        assert sorted(again.names()) == ["Ada", "Grace"] and len(again.events()) == 3


# Dies like a kill -9 right after SQLite opened (and so created) the file named in argv[2], before any write.
KILLED_AT_CONNECT = textwrap.dedent("""
    import os, signal, sys
    from engine.gallery import Gallery
    opening = []

    def die_once_open(event, args):
        if event == "sqlite3.connect":
            opening.append(os.path.basename(str(args[0])))
        elif event == "sqlite3.connect/handle" and opening[-1].startswith(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(die_once_open)
    Gallery(sys.argv[1], "test_encoder:000000000000")
""")


@pytest.mark.parametrize("killed_at", ["g.sqlite", ""])  # the gallery file itself; the first file SQLite opens
def test_a_first_start_killed_at_any_point_leaves_a_gallery_that_opens(tmp_path, killed_at):
    path = tmp_path / "data" / "g.sqlite"
    result = subprocess.run([sys.executable, "-c", KILLED_AT_CONNECT, str(path), killed_at], cwd=REPO)
    assert result.returncode == -signal.SIGKILL
    with Gallery(path, ENCODER) as gallery:  # a new gallery, not "empty (0 bytes) ... restore a backup"
        assert gallery.names() == []
        gallery.enroll("Ada", unit_vectors(1, 1), ["a"])
    assert sorted(os.listdir(path.parent)) == ["g.sqlite"]  # nothing the killed start left behind
