"""The gallery's reads and writes on the PostgreSQL server: class PostgresGallery.

- The server is the source of truth, not the matcher: each machine keeps every embedding in memory and matches
  there (engine.match), exactly as with the SQLite file.
- One transaction per change; while the server is unreachable, enrolling, renaming and deleting are refused
  with a sentence, and log lines wait in the local copy.
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import cast

import numpy as np
import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from ...errors import GalleryError, UnknownPerson
from ...match import GalleryMatrix
from ..base import (
    FORMER_NAMES,
    Event,
    GalleryBase,
    GalleryStatus,
    ImportReport,
    Person,
    Shot,
    StoredShot,
    _check_shot,
    _checked_embeddings,
    former_names,
    now,
    person_name,
    each_person,
    shots_by_person,
)
from .local_copy import LocalCopy, copy_path
from .schema import EVENT_COLUMNS, INSERT_EVENTS, SCHEMA_VERSION, _first_line, _log, _translate, where_of
from .sync import RETRY_SECONDS, GallerySync

CHUNK = 2000  # shots per statement when loading many


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


class PostgresGallery(GallerySync, GalleryBase):
    """People and their embeddings from one encoder, on the PostgreSQL server at `url`, synchronised live."""

    def __init__(self, url: str, encoder_id: str, *, copy_dir: Path | None = None,
                 retry_seconds: tuple[float, float] = RETRY_SECONDS, keep_copy: bool = True):
        """Connect, create or migrate the schema if this login may, load everyone, and start listening.

        When the server cannot be reached, the last copy in `copy_dir` (default: the data folder) is used and the
        gallery reconnects by itself; GalleryError when there is no copy either, or the login is refused.
        EncoderMismatch when the server's gallery belongs to another encoder. keep_copy=False (one-off commands:
        a report, a list, an export) writes and reads no copy: nobody's embeddings stay on this machine, and
        the server must be reachable.
        """
        from ...config import make_data_dir

        super().__init__(encoder_id)
        self.url, self.where = url, where_of(url)
        self.user = cast(str, conninfo_to_dict(url).get("user") or os.environ.get("PGUSER") or "")
        self.machine, self._retry = socket.gethostname(), retry_seconds
        self._lock, self._flush_lock, self._stopping = threading.RLock(), threading.Lock(), threading.Event()
        self._db: psycopg.Connection | None = None
        self._listen: psycopg.Connection | None = None
        self._since: datetime | None = None
        self._synced_at: datetime | None = None
        self._stale = False  # a batch of changes could not be applied: the listener reloads everyone
        self._schema = SCHEMA_VERSION  # the server's schema version, read at each connection
        self._told: set[str] = set()  # the warnings already logged once
        self._copy = LocalCopy(copy_path(copy_dir or make_data_dir(), url, encoder_id) if keep_copy else None,
                               encoder_id)
        try:
            self._start()
        except BaseException:
            with self._lock:
                self._close_connections()
            self._copy.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"gallery {self.where}", daemon=True)
        self._thread.start()

    def status(self) -> GalleryStatus:
        """online, since when it is not (UTC), the time of the copy in use, the events waiting for the server."""
        return GalleryStatus(self._since is None, self._since, self._synced_at, self._copy.pending_count(), self.where)

    # --- statements ----------------------------------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._since is not None or self._db is None or self._db.closed:
            since = (self._since or datetime.now(timezone.utc)).astimezone().strftime("%H:%M")
            raise GalleryError(f"The gallery server at {self.where} is unreachable since {since}; nothing was "
                               "changed, try again once it is back (recognition goes on from this machine's copy).")
        return self._db

    @contextlib.contextmanager
    def _server(self, transaction: bool = False):
        """The main connection, under the lock, inside a transaction when asked; errors become GalleryError."""
        with self._lock:
            conn = self._connection()
            try:
                if transaction:
                    with conn.transaction():
                        yield conn
                else:
                    yield conn
            except psycopg.OperationalError as error:
                self._went_offline(error)
                raise GalleryError(f"The gallery server at {self.where} cannot be reached ({_first_line(error)}); "
                                   "the change was not confirmed, try again once it is back.") from error
            except errors.UniqueViolation as error:
                raise GalleryError("Somebody of that name is already enrolled.") from error
            except psycopg.Error as error:
                raise _translate(error, self.where, self.user) from error

    @contextlib.contextmanager
    def _change(self):
        """A transaction that changes or removes people: this machine's queued events go in first, so that a
        line logged just before a rename or a deletion is renamed or deleted with the others (never delivered
        after it); they count as delivered once it commits."""
        with self._flush_lock:  # before self._lock, as in _flush and events()
            with self._server(transaction=True) as conn:
                delivered = self._send(conn)
                yield conn
            self._copy.delivered(delivered)

    def _after_change(self, people: set[int] | None) -> None:
        """Show this object's own committed change at once (the listener skips its announcement)."""
        try:
            with self._server() as conn:
                self._apply(conn, people)
        except GalleryError:
            pass  # committed all the same; the full sync at reconnection brings it

    def _query(self, statement: str, args=()) -> list[tuple]:
        with self._server() as conn:
            return conn.execute(statement, args).fetchall()

    def _person_id(self, conn: psycopg.Connection, name: str) -> int:
        row = conn.execute("SELECT id FROM likeness.people WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise UnknownPerson(name)
        return row[0]

    def _insert_shots(self, conn: psycopg.Connection, shots: list[Shot]) -> set[int]:
        """Insert shots (their people created when new) in a few statements; returns the people's ids."""
        people = {s.name: s.person_created for s in shots}
        conn.execute("INSERT INTO likeness.people (name, created) SELECT * FROM unnest(%s::text[], %s::timestamptz[]) "
                     "ON CONFLICT (name) DO NOTHING", (list(people), list(people.values())))
        ids: dict[str, int] = dict(conn.execute("SELECT name, id FROM likeness.people WHERE name = ANY(%s)",
                                                (list(people),)))
        shot_ids = [r[0] for r in conn.execute(
            "SELECT nextval(pg_get_serial_sequence('likeness.embeddings', 'id')) FROM generate_series(1, %s)",
            (len(shots),))]
        conn.execute("INSERT INTO likeness.embeddings (id, person_id, vector, source, created) SELECT * FROM "
                     "unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::text[], %s::timestamptz[])",
                     (shot_ids, [ids[s.name] for s in shots], [s.vector for s in shots], [s.source for s in shots],
                      [s.created for s in shots]))
        thumbs = [(i, s.thumbnail) for i, s in zip(shot_ids, shots) if s.thumbnail is not None]
        if thumbs:
            conn.execute("INSERT INTO likeness.thumbnails SELECT * FROM unnest(%s::bigint[], %s::bytea[])",
                         ([i for i, _ in thumbs], [t for _, t in thumbs]))
        return set(ids.values())

    def _log_row(self, kind: str, name: str | None, distance: float | None, detail: str | None, at: str | None = None):
        return (str(uuid.uuid4()), self.machine, at or datetime.now(timezone.utc).isoformat(), kind, name,
                None if distance is None else float(distance), detail)

    def enroll(self, name: str, embeddings: np.ndarray, sources: list[str],
               thumbnails: list[bytes | None] | None = None) -> int:
        """As Gallery.enroll: all shots or none (one transaction); refused while the server is unreachable."""
        name = person_name(name)
        embeddings, thumbnails = _checked_embeddings(embeddings, sources, thumbnails, self.dimension)
        stamp = now()
        shots = [Shot(name, stamp, v.tobytes(), str(s), stamp, t) for v, s, t in zip(embeddings, sources, thumbnails)]
        with self._server(transaction=True) as conn:
            people = self._insert_shots(conn, shots)
            conn.execute(INSERT_EVENTS, self._log_row("enroll", name, None, f"{len(shots)} shot(s)"))
        self._after_change(people)
        return next(iter(people))

    def people(self) -> list[Person]:
        """Everyone enrolled, sorted by name (case-insensitive); while offline, from this machine's copy (no
        creation time, no thumbnail)."""
        if self._since is not None:
            matrix = self._snapshot.matrix
            counts = np.bincount(matrix.owners, minlength=len(matrix.names))
            people = [Person(int(i), n, int(c), "", None) for i, n, c in zip(self._snapshot.ids, matrix.names, counts)]
            return sorted(people, key=lambda p: p.name.lower())
        thumbnail = ("(SELECT t.jpeg FROM likeness.embeddings e2 JOIN likeness.thumbnails t ON t.embedding_id = e2.id "
                     "WHERE e2.person_id = p.id ORDER BY e2.id LIMIT 1)") if self._may_see_thumbnails else "NULL"
        rows = self._query(f"SELECT p.id, p.name, COUNT(e.id), p.created, {thumbnail} FROM likeness.people p "
                           "LEFT JOIN likeness.embeddings e ON e.person_id = p.id GROUP BY p.id "
                           'ORDER BY lower(p.name) COLLATE "C", p.name COLLATE "C"')
        return [Person(i, n, c, _utc(t), None if j is None else bytes(j)) for i, n, c, t, j in rows]

    def embeddings_of(self, name: str) -> np.ndarray:
        """The (k, dimension) embeddings of a person, oldest first (from memory while offline)."""
        if self._since is not None:
            matrix = self._snapshot.matrix
            if name not in matrix.names:
                raise UnknownPerson(name)
            return matrix.embeddings[matrix.owners == matrix.names.index(name)].copy()
        with self._server() as conn:
            person = self._person_id(conn, name)
            rows = conn.execute("SELECT vector FROM likeness.embeddings WHERE person_id = %s ORDER BY id",
                                (person,)).fetchall()
        return np.frombuffer(b"".join(bytes(r[0]) for r in rows), np.float32).reshape(-1, self.dimension).copy()

    def thumbnails_of(self, name: str) -> list[bytes]:
        with self._server() as conn:
            person = self._person_id(conn, name)
            rows = conn.execute("SELECT t.jpeg FROM likeness.embeddings e JOIN likeness.thumbnails t ON "
                                "t.embedding_id = e.id WHERE e.person_id = %s ORDER BY e.id", (person,)).fetchall()
        return [bytes(r[0]) for r in rows]

    def shots_of(self, name: str) -> list[StoredShot]:
        """A person's shots, oldest first, each with its id, source, time and thumbnail."""
        with self._server() as conn:
            person = self._person_id(conn, name)
            rows = conn.execute("SELECT e.id, e.source, e.created, t.jpeg FROM likeness.embeddings e LEFT JOIN "
                                "likeness.thumbnails t ON t.embedding_id = e.id WHERE e.person_id = %s ORDER BY e.id",
                                (person,)).fetchall()
        return [StoredShot(i, s, _utc(c), None if j is None else bytes(j)) for i, s, c, j in rows]

    def delete_shot(self, name: str, shot_id: int) -> None:
        """Remove one shot of a person from the server (its thumbnail cascades); every machine follows."""
        with self._change() as conn:
            person = self._person_id(conn, name)
            _check_shot(name, shot_id, [r[0] for r in conn.execute(
                "SELECT id FROM likeness.embeddings WHERE person_id = %s", (person,))])
            conn.execute("DELETE FROM likeness.embeddings WHERE id = %s", (shot_id,))
            conn.execute(INSERT_EVENTS, self._log_row("delete", name, None, "one shot"))
        self._after_change({person})

    def rename(self, old: str, new: str) -> None:
        """Give a person another name (their log lines follow); GalleryError if `new` is taken."""
        new = person_name(new)
        with self._change() as conn:
            person = self._person_id(conn, old)
            if new == old:
                return
            if conn.execute("SELECT 1 FROM likeness.people WHERE name = %s", (new,)).fetchone():
                raise GalleryError(f"Somebody called {new!r} is already enrolled.")
            conn.execute("UPDATE likeness.people SET name = %s WHERE id = %s", (new, person))
            conn.execute("UPDATE likeness.events SET person = %s WHERE person = %s", (new, old))
            conn.execute(INSERT_EVENTS, self._log_row("rename", new, None, old))
        self._after_change({person})

    def delete(self, name: str) -> tuple[str, ...]:
        """Remove a person from the server: embeddings, thumbnails and every log line naming them; every
        machine's matrix and copy drop them at the next sync. A 'delete' event without a name records it.
        Returns every name the person had (as Gallery.delete)."""
        with self._change() as conn:
            person = self._person_id(conn, name)
            names = (name, *former_names(conn.execute(FORMER_NAMES.replace("events", "likeness.events")
                                                      .replace("?", "%s"), (name,)).fetchall()))
            shots = conn.execute("SELECT COUNT(*) FROM likeness.embeddings WHERE person_id = %s", (person,)).fetchone()[0]
            conn.execute("DELETE FROM likeness.people WHERE id = %s", (person,))  # embeddings, thumbnails cascade
            conn.execute("DELETE FROM likeness.events WHERE person = %s", (name,))
            conn.execute(INSERT_EVENTS, self._log_row("delete", None, None, f"one person, {shots} shot(s)"))
        self._after_change({person})
        return names

    def delete_all(self) -> None:
        """Delete everyone, every embedding and the whole log, on the server and (at their next sync) every copy."""
        with self._change() as conn:
            conn.execute("DELETE FROM likeness.people")
            conn.execute("DELETE FROM likeness.events")
        self._after_change(None)

    def log_event(self, kind: str, name: str | None = None, distance: float | None = None, detail: str = "") -> None:
        """Append one line to the events log. Never blocks on the server: the line waits in this machine's copy
        and the listener delivers it within POLL_SECONDS, or when the server is back."""
        self._copy.queue(self._log_row(kind, name, distance, detail))

    def events(self, limit: int = 100) -> list[Event]:
        """The newest `limit` events, newest first (this machine's waiting ones delivered first)."""
        with self._flush_lock:
            with self._server() as conn:
                delivered = self._send(conn)
                rows = conn.execute(f"SELECT {EVENT_COLUMNS}, {self._writer} FROM likeness.events "
                                    "ORDER BY time DESC, seq DESC LIMIT %s", (limit,)).fetchall()
            self._copy.delivered(delivered)
        return [Event(_utc(t), k, p, d, x, w) for t, k, p, d, x, w in rows]

    @property
    def _writer(self) -> str:
        """The column that says who wrote a log line: written_by, or NULL on a schema its owner has not migrated."""
        return "written_by" if self._schema >= 2 else "NULL"

    def matrix(self) -> GalleryMatrix:
        """All embeddings as one matrix, rows grouped by person: the server's as last synchronised (kept in
        memory; a change at any machine arrives within a fraction of a second)."""
        return self._snapshot.matrix

    def export(self, path: Path | str) -> None:
        """Write people and embeddings, without the events log, to one SQLite file (as Gallery.export)."""
        from ..sqlite import Gallery

        path = Path(path)
        tmp = path.with_name(path.name + ".export")
        tmp.unlink(missing_ok=True)
        try:
            with Gallery(tmp, self.encoder_id) as out:
                out.load(self.shots(), [])
                out.export(path)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def _merge(self, rows, progress: Callable[[int, int], None] | None = None) -> ImportReport:
        by_person = shots_by_person(rows)
        new: list[Shot] = []
        stamp, added, skipped = now(), 0, 0
        with self._server(transaction=True) as conn:
            for name, shots in each_person(by_person, progress):
                known = {bytes(r[0]) for r in conn.execute(
                    "SELECT e.vector FROM likeness.embeddings e JOIN likeness.people p ON p.id = e.person_id "
                    "WHERE p.name = %s", (name,))}
                fresh = [Shot(name, stamp, v, s, stamp, t) for v, s, t in shots if v not in known]
                skipped, added = skipped + len(shots) - len(fresh), added + len(fresh)
                new.extend(fresh)  # not new + fresh: a list copied for every person is quadratic
            changed = self._insert_shots(conn, new) if new else set()
            conn.execute(INSERT_EVENTS, self._log_row("import", None, None, f"{added} shot(s) of {len(by_person)} people"))
        if changed:
            self._after_change(changed)
        return ImportReport(len(by_person), added, skipped)

    def shots(self) -> Iterator[Shot]:
        with self._server(transaction=True) as conn:
            cursor = conn.cursor(name="likeness_shots", binary=True)
            cursor.execute("SELECT p.name, p.created, e.vector, e.source, e.created, t.jpeg FROM likeness.embeddings e "
                           "JOIN likeness.people p ON p.id = e.person_id LEFT JOIN likeness.thumbnails t ON "
                           "t.embedding_id = e.id ORDER BY p.id, e.id")
            for name, person_created, vector, source, created, jpeg in cursor:
                yield Shot(name, _utc(person_created), bytes(vector), source, _utc(created),
                           None if jpeg is None else bytes(jpeg))

    def all_events(self) -> Iterator[Event]:
        rows = self._query("SELECT time, kind, person, distance, detail FROM likeness.events ORDER BY time, seq")
        return (Event(_utc(t), k, p, d, x) for t, k, p, d, x in rows)

    def load(self, shots: Iterable[Shot], events: Iterable[Event], progress=None) -> None:
        """Fill an empty gallery with shots and events, times kept, in one transaction; `progress(n)` after each
        chunk of shots."""
        with self._server(transaction=True) as conn:
            if conn.execute("SELECT COUNT(*) FROM likeness.people").fetchone()[0]:
                raise GalleryError(f"The gallery at {self.where} already holds people; copy into an empty gallery.")
            chunk, done = [], 0
            for shot in shots:
                chunk.append(shot)
                if len(chunk) == CHUNK:
                    self._insert_shots(conn, chunk)
                    done, chunk = done + len(chunk), []
                    if progress:
                        progress(done)
            if chunk:
                self._insert_shots(conn, chunk)
            conn.cursor().executemany(INSERT_EVENTS, [self._log_row(e.kind, e.person, e.distance, e.detail, e.time)
                                                      for e in events])
        self._after_change(None)

    def close(self) -> None:
        """Stop listening and close the connections; queued events stay in the copy for the next start."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with contextlib.suppress(psycopg.Error):  # a last try (without a copy on disk they would be lost)
            self._flush(self._db if self._since is None else None)
        if self._copy.path is None and (left := self._copy.pending_count()):
            self.undelivered = left
            _log().warning("gallery server %s unreachable at the end of a one-off command: %d log line(s) of it "
                           "were not written", self.where, left)
        with self._lock:
            self._close_connections()
        if self._since is None and self._synced_at is not None:
            self._copy.mark_synced(self._synced_at)
        self._copy.close()
