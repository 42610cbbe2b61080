"""This machine's copies of a server's people and embeddings: in memory and on disk.

- In memory: the matrix as last synchronised (_Snapshot), with room to grow, so that a change reloads only the
  people it names (_replace_people) instead of copying everyone.
- Offline: a copy of people and embeddings lives on disk (SQLite, owner-only), rewritten on every sync. While the
  server is unreachable the matrix comes from memory or that copy, events wait in the copy's `pending` table and
  are delivered exactly once (each has a uuid; INSERT ... ON CONFLICT DO NOTHING) when the server is back;
  enrolling, renaming and deleting are refused with a sentence.
"""
from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from psycopg.conninfo import conninfo_to_dict

from ...errors import GalleryError
from ...match import GalleryMatrix
from ...private_sqlite import empty_wal, open_private
from ..base import group_by_person
from .schema import _log


@dataclass(frozen=True)
class _Snapshot:
    """The matrix and, per name index, the person's id on the server. The matrix's rows are the first rows of
    `buffer`, which has room to grow: an addition writes below them (no reader sees those rows) instead of
    copying the whole matrix (256 MB at 100,000 people of 640 values)."""
    matrix: GalleryMatrix
    ids: np.ndarray  # (P,) int64
    buffer: np.ndarray  # (capacity, dimension) float32


def _build(vectors: np.ndarray, owners: np.ndarray, ids: np.ndarray, names: tuple, buffer=None) -> _Snapshot:
    if buffer is None or len(buffer) < len(vectors):
        buffer = np.empty((len(vectors) * 5 // 4 + 64, vectors.shape[1]), np.float32)
        buffer[:len(vectors)] = vectors
    view = buffer[:len(vectors)]
    view.flags.writeable = False  # shared by every caller until the next change
    return _Snapshot(GalleryMatrix(view, owners, names), ids, buffer)


def _snapshot(rows: list[tuple], dimension: int) -> _Snapshot:
    """From (person_id, name, vector bytes) rows grouped by person."""
    vectors, owners, ids, names = group_by_person(rows, dimension)
    return _build(vectors, owners, ids, names)


def _replace_people(old: _Snapshot, changed: set[int], rows: list[tuple], dimension: int) -> _Snapshot:
    """`old` with the people of `changed` as the rows (theirs, as stored now) say: new people are appended in
    place, a renamed one changes name only; a deletion or changed shots rebuild the matrix."""
    vectors, owners, ids, names = group_by_person(rows, dimension)
    position = {int(pid): i for i, pid in enumerate(old.ids)} if changed & set(old.ids.tolist()) else {}
    known = [int(pid) for pid in changed if int(pid) in position]
    fresh = {int(pid): i for i, pid in enumerate(ids)}
    if known and all(pid in fresh and _same_shots(old, position[pid], vectors[owners == fresh[pid]]) for pid in known):
        renamed = list(old.matrix.names)
        for pid in known:
            renamed[position[pid]] = names[fresh[pid]]
        keep = ~np.isin(ids, known)  # the renamed are done; anyone else is new
        return _append(_Snapshot(GalleryMatrix(old.matrix.embeddings, old.matrix.owners, tuple(renamed)), old.ids,
                                 old.buffer), vectors[keep[owners]], owners[keep[owners]], ids, names, keep)
    if not known:
        return _append(old, vectors, owners, ids, names, np.ones(len(ids), bool))
    gone = np.isin(old.ids, known)
    kept_rows = ~gone[old.matrix.owners]
    renumber = np.cumsum(~gone) - 1
    base = int((~gone).sum())
    kept = old.matrix.embeddings[kept_rows]  # no room to grow: the next addition makes some
    embeddings = np.concatenate([kept, vectors]) if len(vectors) else kept
    return _build(embeddings, np.concatenate([renumber[old.matrix.owners[kept_rows]], owners + base]),
                  np.concatenate([old.ids[~gone], ids]),
                  tuple(n for n, g in zip(old.matrix.names, gone) if not g) + names, embeddings)


def _same_shots(old: _Snapshot, index: int, vectors: np.ndarray) -> bool:
    return np.array_equal(old.matrix.embeddings[old.matrix.owners == index], vectors)


def _append(old: _Snapshot, vectors, owners, ids, names, keep) -> _Snapshot:
    """`old` and the new people: `vectors` grouped by `owners`, an index into `ids` and `names` (all of the
    batch); only the people where `keep` is true are added (the owners of `vectors` are all among them)."""
    if not keep.any():
        return old
    size = len(old.matrix.embeddings)
    renumber = np.cumsum(keep) - 1 + len(old.ids)
    buffer = old.buffer
    if len(buffer) < size + len(vectors):
        buffer = np.empty(((size + len(vectors)) * 3 // 2, vectors.shape[1]), np.float32)
        buffer[:size] = old.matrix.embeddings
    buffer[size:size + len(vectors)] = vectors  # below every row a reader can see
    new_names = old.matrix.names + tuple(n for n, k in zip(names, keep) if k)
    return _build(buffer[:size + len(vectors)], np.concatenate([old.matrix.owners, renumber[owners]]),
                  np.concatenate([old.ids, ids[keep]]), new_names, buffer)


class LocalCopy:
    """This machine's copy of a server's people and embeddings, and the events waiting for it: one SQLite file
    readable by its owner only. Thread-safe. With no path (a one-off command, keep_copy=False) nothing is written
    to disk: the waiting events live in memory and no people are kept."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS shots (person_id INTEGER NOT NULL, name TEXT NOT NULL, vector BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS shots_person ON shots(person_id);
    CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY, machine TEXT, time TEXT NOT NULL, kind TEXT NOT NULL,
        person TEXT, distance REAL, detail TEXT);
    """

    def __init__(self, path: Path | None, encoder_id: str):
        self.path, self._lock, self.wal_dirty = path, threading.Lock(), False
        try:
            self._db = (open_private(path) if path is not None
                        else sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
            self._db.executescript(self.SCHEMA)
            stored = self._db.execute("SELECT value FROM meta WHERE key='encoder'").fetchone()
            if stored is not None and stored[0] != encoder_id:  # a stale copy of another encoder: worthless
                self._db.executescript("DELETE FROM shots; DELETE FROM meta;")
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('encoder', ?)", (encoder_id,))
        except (OSError, sqlite3.Error) as error:
            raise GalleryError(f"The local copy of the gallery at {path} cannot be written ({error}); "
                               "check the data folder's permissions.") from error

    @contextlib.contextmanager
    def _transaction(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def rows(self) -> tuple[list[tuple], datetime | None]:
        """The copy's (person_id, name, vector) rows grouped by person, and when it was synchronised (None: never)."""
        with self._lock:
            rows = self._db.execute("SELECT person_id, name, vector FROM shots ORDER BY person_id, rowid").fetchall()
            stamp = self._db.execute("SELECT value FROM meta WHERE key='synced'").fetchone()
        return rows, datetime.fromisoformat(stamp[0]) if stamp else None

    def replace(self, people: set[int] | None, rows: list[tuple], synced: datetime) -> None:
        """Put the rows of `people` (None: everyone) as the server has them now (then call empty_wal)."""
        if self.path is None:
            return
        with self._transaction() as db:
            if people is None:
                db.execute("DELETE FROM shots")
            else:
                db.executemany("DELETE FROM shots WHERE person_id=?", ((p,) for p in people))
            db.executemany("INSERT INTO shots VALUES (?, ?, ?)", ((r[0], r[1], bytes(r[2])) for r in rows))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('synced', ?)", (synced.isoformat(),))

    def empty_wal(self, quiet: bool = False) -> None:
        """The overwritten pages of a deleted person reach the file and leave its write-ahead log, retried while
        another connection (a second Likeness on this machine) reads the copy; when it reads on, `wal_dirty` says
        to try again later (quiet: one try, no warning)."""
        if self.path is None:
            return
        self.wal_dirty = not empty_wal(self._query, 1 if quiet else None)
        if self.wal_dirty and not quiet:
            _log().warning("another program is reading the copy %s: deleted people stay in it until that program "
                           "lets go (tried again then)", self.path)

    def _query(self, statement: str) -> list[tuple]:
        with self._lock:
            return self._db.execute(statement).fetchall()

    def queue(self, row: tuple) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?)", row)

    def pending(self) -> list[tuple]:
        with self._lock:
            return self._db.execute("SELECT * FROM pending ORDER BY time, rowid").fetchall()

    def pending_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def mark_synced(self, synced: datetime) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('synced', ?)", (synced.isoformat(),))

    def delivered(self, ids: list[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM pending WHERE id=?", ((i,) for i in ids))

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()


def copy_path(copy_dir: Path, url: str, encoder_id: str) -> Path:
    """One copy per server, database and encoder."""
    info = conninfo_to_dict(url)
    key = f"{info.get('host')}:{info.get('port')}/{info.get('dbname')}|{encoder_id}"
    return copy_dir / f"gallery-copy-{hashlib.sha256(key.encode()).hexdigest()[:12]}.sqlite"
