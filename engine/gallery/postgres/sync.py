"""Live sync with the server: the listener thread of a PostgresGallery, and its connections.

- Live sync: triggers send NOTIFY on CHANNEL with the id of each changed person, in the transaction of the
  change; a background thread LISTENs on its own connection and reloads only those people.
- The same thread delivers the events queued in the local copy, notices when the server goes away (the gallery
  goes on from memory or its copy) and reconnects with back-off, reloading everyone.

GallerySync is a mixin of PostgresGallery (store.py): the listener, the statements and the store share one
lock, one connection and the online/offline state, declared below.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import cast

import psycopg
from psycopg import sql

from ...errors import GalleryError
from .local_copy import LocalCopy, _replace_people, _snapshot, _Snapshot
from .schema import (
    CHANNEL,
    DELIVER_EVENTS,
    MATRIX_ROWS,
    UNREACHABLE,
    _first_line,
    _log,
    _schema_version,
    _translate,
    connect,
    ensure_schema,
)

POLL_SECONDS = 0.25  # the listener's longest sleep: queued events leave within this
RETRY_SECONDS = (0.5, 10.0)  # first and longest wait between reconnection attempts (doubling)


class GallerySync:
    """The connections to the server and the listener thread of a PostgresGallery, which sets this state up."""

    url: str
    where: str
    user: str
    encoder_id: str
    dimension: int
    _retry: tuple[float, float]
    _lock: threading.RLock
    _flush_lock: threading.Lock
    _stopping: threading.Event
    _db: psycopg.Connection | None
    _listen: psycopg.Connection | None
    _since: datetime | None
    _synced_at: datetime | None
    _stale: bool
    _schema: int
    _may_see_thumbnails: bool
    _told: set[str]
    _copy: LocalCopy
    _snapshot: _Snapshot
    _tell: Callable[[str], None]  # GalleryBase's

    # --- connections, sync ---------------------------------------------------------------------------------------

    def _start(self) -> None:
        try:
            self._connect()
            return
        except psycopg.OperationalError as error:
            unreachable = error
        except psycopg.Error as error:
            raise _translate(error, self.where, self.user) from error
        finally:
            if self._since is not None or not hasattr(self, "_snapshot"):
                self._close_connections()
        rows, synced = self._copy.rows()
        if synced is None:
            copy = ", and this machine has no copy of it yet" if self._copy.path else ""
            raise GalleryError(f"The gallery server at {self.where} cannot be reached "
                               f"({_first_line(unreachable)}){copy}.")
        self._snapshot, self._synced_at = _snapshot(rows, self.dimension), synced
        self._since = datetime.now(timezone.utc)
        _log().warning("gallery server %s unreachable at start; recognising from the copy of %s", self.where, synced)

    def _connect(self) -> None:
        """Both connections, LISTEN before loading (no change can fall between), everyone loaded, events sent."""
        with self._lock:
            self._close_connections()
            self._db = connect(self.url)
            ensure_schema(self._db, self.encoder_id, self.where)
            self._schema = _schema_version(self._db)
            self._may_see_thumbnails = cast(tuple, self._db.execute(
                "SELECT has_table_privilege('likeness.thumbnails', 'SELECT')").fetchone())[0]
            self._listen = connect(self.url)
            self._listen.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
            self._reload(self._db, None)
            was_offline, self._since, self._stale = self._since is not None, None, False
        self._flush(self._listen)
        if was_offline:
            _log().info("gallery server %s reachable again", self.where)
            self._tell("status")

    def _close_connections(self) -> None:
        for conn in (self._db, self._listen):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._db = self._listen = None

    def _reload(self, conn: psycopg.Connection, people: set[int] | None) -> None:
        """Load the rows of `people` (None: everyone) from the server into the matrix and the copy."""
        with self._lock:
            if people is None:
                rows = conn.cursor(binary=True).execute(MATRIX_ROWS.format(where="")).fetchall()
                self._snapshot = _snapshot(rows, self.dimension)
            else:
                rows = conn.cursor(binary=True).execute(MATRIX_ROWS.format(where="WHERE e.person_id = ANY(%s)"),
                                                        (list(people),)).fetchall()
                self._snapshot = _replace_people(self._snapshot, people, rows, self.dimension)
            self._synced_at = datetime.now(timezone.utc)
            self._copy.replace(people, rows, self._synced_at)
        self._copy.empty_wal()  # outside the lock: it may wait for another reader of the copy
        self._tell("people")

    def _warn_once(self, key: str, message: str, *args) -> None:
        if key not in self._told:
            self._told.add(key)
            _log().warning(message, *args)

    def _run(self) -> None:
        """The listener: apply changes as they are announced, deliver queued events, reconnect with back-off."""
        delay = self._retry[0]
        while not self._stopping.is_set():
            conn = self._listen  # read once: a caller may drop it (_went_offline) at any time; None: reconnect
            connecting = conn is None or conn.closed
            try:
                if conn is None or connecting:  # (conn is None: for the type checker)
                    self._connect()
                    delay = self._retry[0]
                else:
                    self._apply_notifications(conn)
                    self._flush(conn)
            except Exception as error:
                # unreachable; or, reconnecting, a server that refuses this login or this gallery now
                if isinstance(error, UNREACHABLE) or (connecting and isinstance(error, (psycopg.Error, GalleryError))):
                    self._went_offline(error)
                    self._stopping.wait(delay)
                    delay = min(2 * delay, self._retry[1])
                else:  # a bug, or a statement the server refused: logged, the kiosk goes on from what it has
                    _log().exception("gallery listener")
                    self._stopping.wait(delay)

    def _apply_notifications(self, conn: psycopg.Connection) -> None:
        notes = list(conn.notifies(timeout=POLL_SECONDS, stop_after=1))
        if notes:
            notes += conn.notifies(timeout=0.0)  # the rest of a burst, without waiting
        # this object's own changes were applied by the call that made them
        db = self._db
        own = db.info.backend_pid if db is not None and not db.closed else None
        changed: set[int] = set()
        for note in notes:
            try:
                if note.pid != own:
                    changed.add(int(note.payload))
            except ValueError:  # any login may NOTIFY on the channel: not one of the triggers' ids
                self._warn_once("payload", "gallery server %s: ignored a notification on %s that is not a "
                                "person's id (%.40r)", self.where, CHANNEL, note.payload)
        if self._stale or changed:
            self._apply(conn, None if self._stale else changed)
        else:
            self._synced_at = datetime.now(timezone.utc)  # connected and nothing changed: the copy is current
            if self._copy.wal_dirty:
                self._copy.empty_wal(quiet=True)

    def _apply(self, conn: psycopg.Connection, people: set[int] | None) -> None:
        """_reload, and when applying the changes of `people` fails, everyone reloaded instead of the changes
        lost (until it succeeds, the listener tries again: _stale)."""
        try:
            self._reload(conn, people)
            self._stale = False
            return
        except UNREACHABLE:
            raise  # the reconnection reloads everyone
        except Exception:
            self._stale = True
            if people is None:
                raise
            _log().exception("gallery server %s: applying %d change(s) failed; reloading everyone", self.where,
                             len(people))
        self._reload(conn, None)
        self._stale = False

    def _went_offline(self, error: Exception) -> None:
        with self._lock:
            self._close_connections()
            first = self._since is None
            if first:
                self._since = datetime.now(timezone.utc)
                if self._synced_at is not None:
                    self._copy.mark_synced(self._synced_at)
        if first:
            _log().warning("gallery server %s unreachable: %s", self.where, _first_line(error))
            self._tell("status")

    def _flush(self, conn: psycopg.Connection | None) -> None:
        """Deliver queued events; each has its uuid, so a delivery repeated after a lost reply adds nothing."""
        if conn is None:
            return
        with self._flush_lock:
            self._copy.delivered(self._send(conn))

    def _send(self, conn: psycopg.Connection) -> list[str]:
        """Insert the queued events on `conn` (in a transaction, or a savepoint of the caller's) and return their
        ids, to mark delivered once committed; the caller holds _flush_lock. Lines naming somebody no longer
        enrolled are left out (DELIVER_EVENTS). A line the server refuses (not for being unreachable: this login
        may not insert events, a value it rejects) is dropped with a warning, so that the others go on."""
        waiting = self._copy.pending()
        if not waiting:
            return []
        try:
            with conn.transaction():
                conn.cursor().executemany(DELIVER_EVENTS, waiting)
        except UNREACHABLE:
            raise
        except psycopg.Error:
            for row in waiting:  # one by one: which of them does the server refuse?
                try:
                    with conn.transaction():
                        conn.execute(DELIVER_EVENTS, row)
                except UNREACHABLE:
                    raise
                except psycopg.Error as error:
                    self._warn_once(f"refused {type(error).__name__}", "gallery server %s refused an event of "
                                    "this machine, dropped (%s); this warning is not repeated", self.where,
                                    _first_line(error))
        return [row[0] for row in waiting]
