"""SQLite files that hold faces or decisions about people: the gallery, a shared gallery's local copy, the
outbox of events. Readable by their owner only, and a deletion in them overwritten on disk, not just unlinked."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

BUSY_SECONDS = 5.0  # how long a statement waits for another connection's lock
CHECKPOINT_TRIES = 50  # x 0.1 s: how long emptying the write-ahead log waits for another reader to let go


def owner_only(path: Path) -> None:
    """Make an SQLite file and its -wal and -shm readable by their owner only (600); a -wal or -shm that SQLite
    creates later takes the file's mode. A file of another owner is left as it is."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            os.chmod(file, 0o600)


def create_owner_only(path: Path) -> None:
    """Create `path` empty with mode 600 when it does not exist; an existing file is not opened at all.

    Closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's included: a file
    another connection of this process has open must never be opened and closed outside SQLite (another
    process would then take itself for the last user and unlink the write-ahead log under that connection).
    O_EXCL opens no descriptor when the file exists."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))


def open_private(path: Path) -> sqlite3.Connection:
    """The SQLite file at `path` (created 600 in a 700 folder when missing) in write-ahead-log mode, with
    secure_delete (freed pages are zeroed) and synchronous FULL, shared between threads behind the caller's lock.
    Raises OSError or sqlite3.Error."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    create_owner_only(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=BUSY_SECONDS)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "secure_delete=ON"):
        db.execute(f"PRAGMA {pragma}")
    owner_only(path)
    return db


def empty_wal(query: Callable[[str], list[tuple]], tries: int | None = None) -> bool:
    """Copy a file's overwritten pages into it and truncate its write-ahead log to nothing, through
    `query(statement)` (which takes the connection's lock per statement); False when another connection kept
    reading the old version for all `tries` (default CHECKPOINT_TRIES): the pages stay until it lets go."""
    # A checkpoint waits for readers through the busy handler: with a 5 s timeout each try would wait 5 s
    # (50 tries: over four minutes behind one open reader). Here the tries do the waiting.
    query("PRAGMA busy_timeout = 0")
    try:
        for _ in range(tries or CHECKPOINT_TRIES):
            if not query("PRAGMA wal_checkpoint(TRUNCATE)")[0][0]:
                return True
            time.sleep(0.1)  # another connection is reading; it usually lets go within one query
    finally:
        query(f"PRAGMA busy_timeout = {int(1000 * BUSY_SECONDS)}")
    return False
