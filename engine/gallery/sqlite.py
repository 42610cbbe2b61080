"""The SQLite gallery: people and their face embeddings in one file on this machine (the embedded default).

- WAL journal and one transaction per change: a crash mid-write leaves the previous state.
- `secure_delete` plus a WAL checkpoint after deletions: a deleted face is overwritten, not just unlinked.
- Every embedding carries its encoder's id; a gallery belongs to one encoder and refuses others.
- Threads: one connection per Gallery object, shared behind a lock (check_same_thread=False); the writes
  are small and rare. Several Gallery objects on the same file (the GUI gives its pipeline thread its own)
  see each other's commits: `matrix()` watches SQLite's data_version.
"""
from __future__ import annotations

import contextlib
import glob
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from ..config import data_dir
from ..errors import BadInput, DeletedButReadElsewhere, EncoderMismatch, GalleryError, UnknownPerson
from ..faces.encoders import encoder_id
from ..match import GalleryMatrix
from ..private_sqlite import BUSY_SECONDS, empty_wal, owner_only
from .export import interruption, limit_work, schema_problem
from .base import (
    Event,
    GalleryBase,
    ImportReport,
    Person,
    Shot,
    StoredShot,
    _check_shot,
    _checked_embeddings,
    FORMER_NAMES,
    first_damaged,
    former_names,
    group_by_person,
    now,
    person_name,
    each_person,
    shots_by_person,
)

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
INSERT_EMBEDDING = ("INSERT INTO embeddings (person_id, vector, encoder, source, created, thumbnail) "
                    "VALUES (?, ?, ?, ?, ?, ?)")


def default_path(encoder: str = "") -> Path:
    """The gallery of an encoder (a setting's value, see engine.faces.encoders.SHIPPED_ENCODERS) in the user's
    data folder (LIKENESS_HOME/data when that variable is set): gallery.sqlite for dlib's, the encoder of
    Likeness before FaceNet shipped, gallery-<name>-<id prefix>.sqlite for any other (embeddings of different
    encoders are never compared, so each version of each has its own file)."""
    return default_path_of(encoder_id(encoder))


def default_path_of(identity: str) -> Path:
    """default_path() of the encoder with this id."""
    if identity == encoder_id("dlib"):
        return data_dir() / "gallery.sqlite"
    return data_dir() / f"gallery-{identity.replace(':', '-').replace('+', '-')}.sqlite"


def stored_encoder(path: Path) -> str | None:
    """The encoder id of the gallery file at `path`, read without changing it; None when there is no file."""
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(Path(os.path.abspath(path)).as_uri() + "?mode=ro", uri=True)) as db:
            limit_work(db)
            db.execute("PRAGMA trusted_schema=OFF")
            _refuse_unsafe(db, path)
            row = db.execute("SELECT value FROM meta WHERE key='encoder'").fetchone()
    except sqlite3.Error as error:
        raise _translate(error, path) from error
    return row[0] if row else None


def _refuse_unsafe(db: sqlite3.Connection, path: Path) -> None:
    """GalleryError when the file is another program's database, or holds what a Likeness gallery never has
    (views, triggers, virtual tables, unknown tables: SQL its author wrote, or copies a deletion would miss)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "meta" not in tables:
        raise GalleryError(f"The file {path} is an SQLite database of another program, not a Likeness gallery; "
                           "choose another file.")
    if problem := schema_problem(db):
        raise GalleryError(f"The file {path} {problem}, so it is not a Likeness gallery; it was not opened.")


def _translate(error: sqlite3.Error, path: Path) -> GalleryError | KeyboardInterrupt:
    if interrupted := interruption(error):
        return interrupted
    text = str(error)
    if "full" in text:
        return GalleryError(f"The disk holding {path} is full; nothing was written, free some space and try again.")
    if "not a database" in text or "malformed" in text:
        return GalleryError(f"The gallery file {path} is damaged or not a Likeness gallery; restore a backup or "
                            "import an export.")
    if "readonly" in text or "unable to open" in text:
        return GalleryError(f"The gallery file {path} cannot be written; check the folder's permissions.")
    return GalleryError(f"The gallery file {path} could not be used ({text}).")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class Gallery(GalleryBase):
    """People and their embeddings from one encoder, in the SQLite file at `path`."""

    def __init__(self, path: Path | str | None, encoder_id: str):
        """Open (or create) the gallery at `path` (None: `default_path()`) for embeddings of `encoder_id`.

        Raises EncoderMismatch when the file belongs to another encoder, GalleryError when the file is damaged,
        is not a Likeness gallery, or cannot be created.
        """
        super().__init__(encoder_id)
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        self._matrix_cache: tuple | None = None
        self._changes = 0
        self._wal_dirty = False  # a deletion's old pages wait in the write-ahead log for another reader
        self._refuse_empty_file()
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a folder made for faces: owner only
            if not self.path.exists():
                self._create()
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_SECONDS)
        except OSError as error:
            raise GalleryError(f"Cannot create the gallery at {self.path}: {error.strerror or error}.") from error
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error
        try:
            self._setup()
        except BaseException:
            self._db.close()
            raise
        owner_only(self.path)  # only once it is ours: a refused file is left as it was

    def _create(self) -> None:
        """Write a new, empty gallery beside `path` and link it into place whole: a first start killed at any
        moment leaves no gallery or a complete one, never a 0-byte file that reads as a truncated copy."""
        self._remove_abandoned_drafts()
        handle, name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.{os.getpid()}.",
                                        suffix=".new")  # mode 600
        os.close(handle)  # a new file: no connection of this process holds it yet
        draft = Path(name)
        try:
            self._db = sqlite3.connect(draft, isolation_level=None)
            try:
                self._setup()
            finally:
                self._db.close()  # the last connection: SQLite empties and removes the draft's -wal
            try:
                os.link(draft, self.path)  # never over a gallery another start made meanwhile: that one is used
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links (FAT, some network shares)
                if not self.path.exists():
                    os.replace(draft, self.path)
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error
        finally:
            for leftover in (draft, draft.with_name(draft.name + "-wal"), draft.with_name(draft.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def _remove_abandoned_drafts(self) -> None:
        """The drafts of first starts that were killed (their process is gone): they hold no one, only tables."""
        if os.name != "posix":  # where a process cannot be asked whether it runs without stopping it
            return
        for draft in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.new*"):
            pid = draft.name[len(self.path.name) + 2:].split(".")[0]
            if pid.isdigit() and not _running(int(pid)):
                draft.unlink(missing_ok=True)

    def _refuse_empty_file(self) -> None:
        """A gallery file of zero bytes (and no write-ahead log) is a truncated copy, never one that Likeness
        left: it writes the first page as it creates the file. Taking it as an empty gallery would hide the loss."""
        with contextlib.suppress(OSError):
            if self.path.stat().st_size == 0:
                wal = self.path.with_name(self.path.name + "-wal")
                if not wal.exists() or wal.stat().st_size == 0:
                    raise GalleryError(f"The gallery file {self.path} is empty (0 bytes), perhaps cut short by a copy "
                                       "or a full disk; restore a backup, or delete the file to start a new gallery.")

    def _setup(self) -> None:
        try:
            limit_work(self._db)  # no limit, but Ctrl+C stops a statement
            for pragma in ("trusted_schema=OFF", "journal_mode=WAL", "foreign_keys=ON", "secure_delete=ON",
                           "synchronous=FULL"):
                self._db.execute(f"PRAGMA {pragma}")
            _refuse_unsafe(self._db, self.path)
        except sqlite3.Error as error:
            raise _translate(error, self.path) from error
        with self._transaction() as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('encoder', ?)", (self.encoder_id,))
        meta = dict(self._query("SELECT key, value FROM meta"))
        if int(meta["schema"]) > SCHEMA_VERSION:
            raise GalleryError(f"The gallery {self.path} was written by a newer Likeness; update the app to open it.")
        if meta["encoder"] != self.encoder_id:
            raise EncoderMismatch(
                f"The gallery {self.path} holds embeddings of encoder {meta['encoder']}, not of the current "
                f"{self.encoder_id}; re-enroll everyone with this encoder in a new gallery, or switch back."
            )

    @contextlib.contextmanager
    def _transaction(self):
        """All statements inside commit together or not at all; SQLite errors become GalleryError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                if self._db.in_transaction:  # SQLite may have rolled back already (e.g. when the disk is full)
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise _translate(error, self.path) from error
                raise
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
        """Store embeddings of a person, creating the person if new, appending to their shots otherwise.

        name: the person's name. embeddings: (n, dimension) float32 unit vectors of this gallery's encoder.
        sources: n strings saying where each came from ("camera", a file path). thumbnails: n JPEG bytes
        (see thumbnail_jpeg) or None each, or None for none at all. Returns the person's id.
        """
        name = person_name(name)
        embeddings, thumbnails = _checked_embeddings(embeddings, sources, thumbnails, self.dimension)
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now()))
            person = db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()[0]
            stamp = now()
            db.executemany(INSERT_EMBEDDING, ((person, vector.tobytes(), self.encoder_id, str(source), stamp, thumbnail)
                                              for vector, source, thumbnail in zip(embeddings, sources, thumbnails)))
            db.execute("INSERT INTO events (time, kind, person, detail) VALUES (?, 'enroll', ?, ?)",
                       (stamp, name, f"{len(embeddings)} shot(s)"))
        self._tell("people")
        return person

    def people(self) -> list[Person]:
        """Everyone enrolled, sorted by name (case-insensitive), with their shot count and first thumbnail."""
        rows = self._query(
            "SELECT p.id, p.name, COUNT(e.id), p.created, "
            "(SELECT thumbnail FROM embeddings WHERE person_id=p.id AND thumbnail IS NOT NULL ORDER BY id LIMIT 1) "
            "FROM people p LEFT JOIN embeddings e ON e.person_id=p.id GROUP BY p.id ORDER BY p.name COLLATE NOCASE"
        )
        return [Person(*row) for row in rows]

    def embeddings_of(self, name: str) -> np.ndarray:
        """The (k, dimension) float32 embeddings of a person, oldest first; UnknownPerson if nobody has that name."""
        rows = self._query("SELECT ?, vector FROM embeddings WHERE person_id=? AND encoder=? ORDER BY id",
                           (name, self._person_id(name), self.encoder_id))
        self._refuse_damaged(rows)
        return np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(-1, self.dimension).copy()

    def _refuse_damaged(self, rows: list[tuple]) -> None:
        """GalleryError naming the first person whose stored embedding is not a unit vector of this encoder's
        length; `rows` end with (name, vector)."""
        if damaged := first_damaged([row[-1] for row in rows], self.dimension):
            index, problem = damaged
            raise GalleryError(f"The gallery {self.path} holds a damaged shot of {rows[index][-2]!r} ({problem}); "
                               "delete that person and enroll them again, or restore a backup.")

    def thumbnails_of(self, name: str) -> list[bytes]:
        """The JPEG thumbnails of a person's shots that have one, oldest first; UnknownPerson if unknown."""
        rows = self._query("SELECT thumbnail FROM embeddings WHERE person_id=? AND thumbnail IS NOT NULL ORDER BY id",
                           (self._person_id(name),))
        return [r[0] for r in rows]

    def shots_of(self, name: str) -> list[StoredShot]:
        """A person's shots, oldest first, each with its id, source, time and thumbnail; UnknownPerson if unknown."""
        rows = self._query("SELECT id, source, created, thumbnail FROM embeddings WHERE person_id=? ORDER BY id",
                           (self._person_id(name),))
        return [StoredShot(*row) for row in rows]

    def delete_shot(self, name: str, shot_id: int) -> None:
        """Remove one shot of a person (a photo of somebody else, a poor one), overwriting the freed bytes.
        BadInput for their only shot (delete the person instead) or a shot that is not theirs."""
        person = self._person_id(name)
        with self._transaction() as db:
            _check_shot(name, shot_id, [r[0] for r in db.execute("SELECT id FROM embeddings WHERE person_id=?",
                                                                 (person,))])
            db.execute("DELETE FROM embeddings WHERE id=?", (shot_id,))
            db.execute("INSERT INTO events (time, kind, person, detail) VALUES (?, 'delete', ?, 'one shot')",
                       (now(), name))
        self._tell("people")
        self._empty_wal()

    def rename(self, old: str, new: str) -> None:
        """Give a person another name (their log lines follow); GalleryError if `new` is taken."""
        person, new = self._person_id(old), person_name(new)
        if new == old:
            return
        if self._query("SELECT 1 FROM people WHERE name=?", (new,)):
            raise GalleryError(f"Somebody called {new!r} is already enrolled.")
        with self._transaction() as db:
            db.execute("UPDATE people SET name=? WHERE id=?", (new, person))
            db.execute("UPDATE events SET person=? WHERE person=?", (new, old))
            db.execute("INSERT INTO events (time, kind, person, detail) VALUES (?, 'rename', ?, ?)", (now(), new, old))
        self._tell("people")

    def delete(self, name: str) -> tuple[str, ...]:
        """Remove a person: their embeddings, thumbnails and every log line naming them, overwriting the freed bytes.

        The log lines go too (not just their name): times and distances of someone's visits are theirs.
        A 'delete' event without a name records that a deletion happened. Returns every name the person had
        (this one first, then those before renames), for what else holds them (the outbox of events).
        Raises DeletedButReadElsewhere, after deleting, while another program reads the old version.
        """
        person = self._person_id(name)
        with self._transaction() as db:
            names = (name, *former_names(db.execute(FORMER_NAMES, (name,)).fetchall()))
            shots = db.execute("SELECT COUNT(*) FROM embeddings WHERE person_id=?", (person,)).fetchone()[0]
            db.execute("DELETE FROM people WHERE id=?", (person,))  # embeddings go by ON DELETE CASCADE
            db.execute("DELETE FROM events WHERE person=?", (name,))
            db.execute("INSERT INTO events (time, kind, detail) VALUES (?, 'delete', ?)",
                       (now(), f"one person, {shots} shot(s)"))
        self._tell("people")
        self._empty_wal(names)
        return names

    def delete_all(self) -> None:
        """Delete everyone, every embedding and the whole log, and rewrite the file at its smallest.

        The file itself stays (empty, with its encoder id): other connections, such as the GUI's pipeline
        thread, keep working on it instead of writing into an unlinked file.
        """
        with self._transaction() as db:
            db.execute("DELETE FROM people")
            db.execute("DELETE FROM events")
        self._empty_wal()  # the zeroed pages reach the main file before VACUUM shrinks it
        with self._lock:
            try:
                self._db.execute("VACUUM")
            except sqlite3.Error as error:
                raise _translate(error, self.path) from error
            self._changes += 1
        self._tell("people")
        self._empty_wal()

    def _empty_wal(self, names: tuple[str, ...] = ()) -> None:
        """Copy the overwritten pages into the database file and truncate the write-ahead log to nothing; when
        another program reads on, tried again at close()."""
        self._wal_dirty = not empty_wal(self._query)
        if self._wal_dirty:
            raise DeletedButReadElsewhere(
                f"The deletion is done, but another program is reading {self.path}: the deleted shots stay on disk "
                "in that file until the program lets go of it and Likeness closes the gallery (SQLite overwrites "
                "them only once nobody reads the old version).", names)

    def log_event(self, kind: str, name: str | None = None, distance: float | None = None, detail: str = "") -> None:
        """Append one line to the events log: kind ("enroll", "verify", "identify", "delete", "spoof" ...),
        the person's name or None, the distance or None, and free text."""
        distance = None if distance is None else float(distance)
        with self._transaction() as db:
            db.execute("INSERT INTO events (time, kind, person, distance, detail) VALUES (?,?,?,?,?)",
                       (now(), kind, name, distance, detail))

    def events(self, limit: int = 100) -> list[Event]:
        """The newest `limit` events, newest first, as Event(time, kind, person, distance, detail)."""
        rows = self._query("SELECT time, kind, person, distance, detail FROM events ORDER BY id DESC LIMIT ?", (limit,))
        return [Event(*row) for row in rows]

    def matrix(self) -> GalleryMatrix:
        """All embeddings of this encoder as one (M, 128) matrix, rows grouped by person.

        Cached: rebuilt only after a change, by this object or by another connection to the file.
        """
        with self._lock:
            version = (self._changes, self._query("PRAGMA data_version")[0][0])
            if self._matrix_cache is None or self._matrix_cache[0] != version:
                self._matrix_cache = (version, self._load_matrix())
            return self._matrix_cache[1]

    def _load_matrix(self) -> GalleryMatrix:
        rows = self._query("SELECT e.person_id, p.name, e.vector FROM embeddings e JOIN people p ON p.id=e.person_id "
                           "WHERE e.encoder=? ORDER BY e.person_id, e.id", (self.encoder_id,))
        self._refuse_damaged(rows)
        embeddings, owners, _, names = group_by_person(rows, self.dimension)
        embeddings.flags.writeable = False  # shared by every caller until the next change
        return GalleryMatrix(embeddings, owners, names)

    def export(self, path: Path | str) -> None:
        """Write people and embeddings, with the encoder id but without the events log, to one SQLite file.

        The file is written whole or not at all (written beside, then renamed); read it back with import_().
        """
        path = Path(path)
        with contextlib.suppress(OSError):
            if os.path.samefile(path, self.path):  # replacing it would leave this connection on an unlinked file
                raise BadInput(f"{path} is the gallery itself; export to another file.")
        tmp = path.with_name(path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # faces: owner only from the start
        with self._lock:
            try:
                self._db.execute("VACUUM INTO ?", (str(tmp),))
                copy = sqlite3.connect(tmp, isolation_level=None)
                try:
                    copy.execute("DELETE FROM events")
                    copy.execute("VACUUM")  # rebuilds the file: no freed page keeps a log line
                finally:
                    copy.close()
            except sqlite3.Error as error:
                tmp.unlink(missing_ok=True)
                raise _translate(error, path) from error
        os.replace(tmp, path)

    def _merge(self, rows, progress: Callable[[int, int], None] | None = None) -> ImportReport:
        by_person = shots_by_person(rows)
        added = skipped = 0
        with self._transaction() as db:
            for name, shots in each_person(by_person, progress):
                db.execute("INSERT OR IGNORE INTO people (name, created) VALUES (?, ?)", (name, now()))
                person = db.execute("SELECT id FROM people WHERE name=?", (name,)).fetchone()[0]
                known = {r[0] for r in db.execute("SELECT vector FROM embeddings WHERE person_id=?", (person,))}
                new = [shot for shot in shots if shot[0] not in known]
                skipped += len(shots) - len(new)
                added += len(new)
                db.executemany(INSERT_EMBEDDING, [(person, v, self.encoder_id, s, now(), t) for v, s, t in new])
            db.execute("INSERT INTO events (time, kind, detail) VALUES (?, 'import', ?)",
                       (now(), f"{added} shot(s) of {len(by_person)} people"))
        self._tell("people")
        return ImportReport(len(by_person), added, skipped)

    def shots(self) -> Iterator[Shot]:
        rows = self._query("SELECT p.name, p.created, e.vector, e.source, e.created, e.thumbnail FROM embeddings e "
                           "JOIN people p ON p.id=e.person_id WHERE e.encoder=? ORDER BY p.id, e.id", (self.encoder_id,))
        return (Shot(*row) for row in rows)

    def all_events(self) -> Iterator[Event]:
        return (Event(*row) for row in self._query("SELECT time, kind, person, distance, detail FROM events ORDER BY id"))

    def load(self, shots: Iterable[Shot], events: Iterable[Event]) -> None:
        with self._transaction() as db:
            if db.execute("SELECT COUNT(*) FROM people").fetchone()[0]:
                raise GalleryError(f"The gallery {self.path} already holds people; copy into an empty gallery.")
            ids: dict[str, int] = {}
            for shot in shots:
                if shot.name not in ids:
                    ids[shot.name] = db.execute("INSERT INTO people (name, created) VALUES (?, ?)",
                                                (shot.name, shot.person_created)).lastrowid
                db.execute(INSERT_EMBEDDING, (ids[shot.name], shot.vector, self.encoder_id, shot.source, shot.created,
                                              shot.thumbnail))
            db.executemany("INSERT INTO events (time, kind, person, distance, detail) VALUES (?,?,?,?,?)",
                           (event[:5] for event in events))  # who wrote a shared gallery's line is the server's
        self._tell("people")

    def close(self) -> None:
        """Close the connection, first finishing the overwrite of a deletion that another program's reading
        held up; the object cannot be used afterwards."""
        with self._lock, contextlib.suppress(sqlite3.Error, GalleryError):
            if self._wal_dirty:
                empty_wal(self._query, 1)
            self._db.close()
