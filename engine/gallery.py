"""The gallery: people and their face embeddings in one SQLite file on this machine.

- WAL journal and one transaction per change: a crash mid-write leaves the previous state.
- `secure_delete` and a WAL checkpoint after deletions: a deleted face is overwritten, not just unlinked.
- Every embedding carries its encoder's id; a gallery belongs to one encoder and refuses others.
- One connection shared by the threads of the app behind a lock (the writes are small and rare).
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .errors import EncoderMismatch, GalleryError, UnknownPerson
from .match import GalleryMatrix

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector BLOB NOT NULL, encoder TEXT NOT NULL, source TEXT NOT NULL, created TEXT NOT NULL, thumbnail BLOB);
CREATE INDEX IF NOT EXISTS embeddings_person ON embeddings(person_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, person TEXT, distance REAL, detail TEXT);
"""


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    embedding_count: int
    created: str
    thumbnail: bytes | None


@dataclass(frozen=True)
class ImportReport:
    people: int
    embeddings: int
    duplicates_skipped: int

    def __str__(self) -> str:
        return f"{self.embeddings} shot(s) of {self.people} people, {self.duplicates_skipped} already present"


def thumbnail_jpeg(chip_rgb: np.ndarray) -> bytes:
    """The face chip as JPEG bytes, to show the person in the gallery."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _translate(error: sqlite3.Error, path: Path) -> GalleryError:
    text = str(error)
    if "full" in text:
        return GalleryError(f"The disk holding {path} is full; nothing was written, free some space and try again.")
    if "not a database" in text or "malformed" in text:
        return GalleryError(f"The gallery file {path} is damaged or not a Likeness gallery; restore a backup or import an export.")
    if "readonly" in text or "unable to open" in text:
        return GalleryError(f"The gallery file {path} cannot be written; check the folder's permissions.")
    return GalleryError(f"The gallery file {path} could not be used ({text}).")


class Gallery:
    def __init__(self, path: Path, encoder_id: str):
        self.path, self.encoder_id = Path(path), encoder_id
        self._lock = threading.RLock()
        self._matrix_cache: tuple | None = None
        self._changes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._setup()
        except (sqlite3.Error, OSError) as error:
            raise (_translate(error, self.path) if isinstance(error, sqlite3.Error) else
                   GalleryError(f"Cannot create the gallery at {self.path}: {error}.")) from error

    def _setup(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('encoder', ?)", (self.encoder_id,))
        stored = db.execute("SELECT value FROM meta WHERE key='encoder'").fetchone()[0]
        if stored != self.encoder_id:
            raise EncoderMismatch(
                f"The gallery {self.path} holds embeddings of encoder {stored}, not of the current {self.encoder_id}; "
                "re-enroll everyone with this encoder in a new gallery, or switch back."
            )

    @contextlib.contextmanager
    def _transaction(self):
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise _translate(error, self.path) from error
            self._changes += 1

    def _query(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as error:
                raise _translate(error, self.path) from error

    def _person_id(self, name: str) -> int:
        rows = self._query("SELECT id FROM people WHERE name=?", (name,))
        if not rows:
            raise UnknownPerson(name)
        return rows[0][0]

    def enroll(self, name: str, embeddings: np.ndarray, sources: list[str],
               thumbnails: list[bytes | None] | None = None) -> int:
        """Store embeddings (n, 128) of a person, creating the person if new. Returns the person's id."""
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, 128)
        thumbnails = thumbnails or [None] * len(embeddings)
        if not name.strip():
            raise GalleryError("A person needs a name.")
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now()))
            person = db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()[0]
            db.executemany(
                "INSERT INTO embeddings (person_id, vector, encoder, source, created, thumbnail) VALUES (?,?,?,?,?,?)",
                [(person, e.tobytes(), self.encoder_id, s, now(), t) for e, s, t in zip(embeddings, sources, thumbnails)],
            )
            db.execute("INSERT INTO events (time, kind, person, detail) VALUES (?, 'enroll', ?, ?)",
                       (now(), name, f"{len(embeddings)} shot(s)"))
        return person

    def people(self) -> list[Person]:
        """Everyone enrolled, by name, with their number of embeddings and first thumbnail."""
        rows = self._query(
            "SELECT p.id, p.name, COUNT(e.id), p.created, "
            "(SELECT thumbnail FROM embeddings WHERE person_id=p.id AND thumbnail IS NOT NULL ORDER BY id LIMIT 1) "
            "FROM people p LEFT JOIN embeddings e ON e.person_id=p.id GROUP BY p.id ORDER BY p.name COLLATE NOCASE"
        )
        return [Person(*row) for row in rows]

    def embeddings_of(self, name: str) -> np.ndarray:
        rows = self._query("SELECT vector FROM embeddings WHERE person_id=? ORDER BY id", (self._person_id(name),))
        return np.array([np.frombuffer(r[0], np.float32) for r in rows]).reshape(-1, 128)

    def thumbnails_of(self, name: str) -> list[bytes]:
        rows = self._query("SELECT thumbnail FROM embeddings WHERE person_id=? AND thumbnail IS NOT NULL ORDER BY id",
                           (self._person_id(name),))
        return [r[0] for r in rows]

    def rename(self, old: str, new: str) -> None:
        person = self._person_id(old)
        if self._query("SELECT 1 FROM people WHERE name=?", (new,)):
            raise GalleryError(f"Somebody called {new!r} is already enrolled.")
        with self._transaction() as db:
            db.execute("UPDATE people SET name=? WHERE id=?", (new, person))
            db.execute("UPDATE events SET person=? WHERE person=?", (new, old))

    def delete(self, name: str) -> None:
        """Remove a person, their embeddings, thumbnails and log lines, overwriting the freed pages."""
        person = self._person_id(name)
        with self._transaction() as db:
            db.execute("DELETE FROM people WHERE id=?", (person,))  # embeddings go by ON DELETE CASCADE
            db.execute("DELETE FROM events WHERE person=?", (name,))
        self._scrub()

    def _scrub(self) -> None:
        """Copy the overwritten pages into the database file and empty the write-ahead log."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def delete_all(self) -> None:
        """Delete everyone, every embedding and the whole log; the emptied file is rewritten (VACUUM)."""
        with self._transaction() as db:
            db.execute("DELETE FROM people")
            db.execute("DELETE FROM events")
        with self._lock:
            self._db.execute("VACUUM")
        self._scrub()

    def log_event(self, kind: str, name: str | None = None, distance: float | None = None, detail: str = "") -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO events (time, kind, person, distance, detail) VALUES (?,?,?,?,?)",
                       (now(), kind, name, distance, detail))

    def events(self, limit: int = 100) -> list[tuple]:
        """Newest first: (time, kind, person, distance, detail)."""
        return self._query("SELECT time, kind, person, distance, detail FROM events ORDER BY id DESC LIMIT ?", (limit,))

    def matrix(self) -> GalleryMatrix:
        """All embeddings as one matrix; rebuilt only after a change (ours or another connection's)."""
        version = (self._changes, self._query("PRAGMA data_version")[0][0])
        if self._matrix_cache is None or self._matrix_cache[0] != version:
            rows = self._query("SELECT p.name, e.vector FROM embeddings e JOIN people p ON p.id=e.person_id ORDER BY p.id, e.id")
            names = tuple(dict.fromkeys(r[0] for r in rows))
            index = {name: i for i, name in enumerate(names)}
            embeddings = np.array([np.frombuffer(r[1], np.float32) for r in rows], np.float32).reshape(-1, 128)
            owners = np.array([index[r[0]] for r in rows], dtype=np.int64)
            self._matrix_cache = (version, GalleryMatrix(embeddings, owners, names))
        return self._matrix_cache[1]

    def export(self, path: Path) -> None:
        """Write people and embeddings (not the events log) to one portable SQLite file."""
        path, tmp = Path(path), Path(f"{path}.tmp")
        tmp.unlink(missing_ok=True)
        with self._lock:
            try:
                self._db.execute("VACUUM INTO ?", (str(tmp),))
                copy = sqlite3.connect(tmp, isolation_level=None)
                copy.execute("DELETE FROM events")
                copy.execute("VACUUM")
                copy.close()
            except sqlite3.Error as error:
                tmp.unlink(missing_ok=True)
                raise _translate(error, path) from error
        os.replace(tmp, path)

    def import_(self, path: Path) -> ImportReport:
        """Merge an exported gallery: new people are added, known names get the shots they lack."""
        try:
            source = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
            encoder = source.execute("SELECT value FROM meta WHERE key='encoder'").fetchone()[0]
            rows = source.execute(
                "SELECT p.name, e.vector, e.source, e.thumbnail FROM embeddings e JOIN people p ON p.id=e.person_id"
            ).fetchall()
            source.close()
        except (sqlite3.Error, TypeError) as error:
            raise GalleryError(f"The file {path} is not a Likeness gallery export.") from error
        if encoder != self.encoder_id:
            raise EncoderMismatch(f"The file {path} holds embeddings of encoder {encoder}, not of {self.encoder_id}; "
                                  "it cannot be mixed with this gallery.")
        return self._merge(rows)

    def _merge(self, rows) -> ImportReport:
        by_person: dict[str, list] = {}
        for name, vector, source, thumbnail in rows:
            by_person.setdefault(name, []).append((vector, source, thumbnail))
        added = skipped = 0
        with self._transaction() as db:
            for name, shots in by_person.items():
                db.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now()))
                person = db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()[0]
                known = {r[0] for r in db.execute("SELECT vector FROM embeddings WHERE person_id=?", (person,))}
                new = [s for s in shots if s[0] not in known]
                skipped += len(shots) - len(new)
                added += len(new)
                db.executemany(
                    "INSERT INTO embeddings (person_id, vector, encoder, source, created, thumbnail) VALUES (?,?,?,?,?,?)",
                    [(person, v, self.encoder_id, s, now(), t) for v, s, t in new],
                )
        return ImportReport(len(by_person), added, skipped)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
