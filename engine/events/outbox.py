"""The outbox: decisions written to an SQLite file before publish() returns, delivered by one background
thread per sink, retried with exponential back-off, removed once every sink has them (or refused them for
good). Opening it drops what no configured sink is left to deliver; forget_in() and forget_all_in() withdraw
events from the file without sinks (a deletion while no sink is configured)."""
from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import DeliveryError
from ..logs import LOGGER
from ..private_sqlite import empty_wal, open_private
from .decision import Decision, Refused, Sink

MAX_EVENTS = 10_000  # undelivered events kept; beyond it the oldest are dropped (a broker down ~14 h at 1 event / 5 s)
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE, sink TEXT NOT NULL, PRIMARY KEY (sink, seq));
"""
FORGET = "DELETE FROM events WHERE json_extract(CAST(body AS TEXT), '$.name') = ?"
FORGET_ALL = "DELETE FROM events"
log = logging.getLogger(f"{LOGGER}.events")


def _delete_in(path: Path | str, sql: str, *parameters) -> int:
    """Run one DELETE on the outbox file at `path` (no sinks, no threads), then wipe the old pages out of the
    write-ahead log too; how many rows it deleted, 0 without a file."""
    path = Path(path)
    if not path.exists():
        return 0
    try:
        db = open_private(path)
        try:
            db.executescript(SCHEMA)
            count = db.execute(sql, parameters).rowcount
            _empty_wal(db, path)
            return count
        finally:
            db.close()
    except (OSError, sqlite3.Error) as error:
        raise DeliveryError(f"The outbox {path} cannot be written ({error}).") from error


def _empty_wal(db: sqlite3.Connection, path: Path) -> None:
    """The old page versions of deleted rows leave the write-ahead log, or a warning says why they stay."""
    if not empty_wal(lambda statement: db.execute(statement).fetchall()):
        log.warning("another program is reading the outbox %s: withdrawn events stay in its write-ahead log until "
                    "it lets go", path)


def forget_in(path: Path | str, name: str) -> int:
    """Outbox.forget on the outbox file at `path` without opening an outbox (no sink need be configured, and
    one open on the file meanwhile is fine); 0 when there is no such file."""
    return _delete_in(path, FORGET, name)


def forget_all_in(path: Path | str) -> int:
    """Outbox.forget_all on the outbox file at `path` without opening an outbox; 0 when there is none."""
    return _delete_in(path, FORGET_ALL)


class Outbox:
    """Publish decisions to `sinks` without waiting for the network.

    Each (event, sink) pair is a pending row in the file at `path`; a thread per sink sends that sink's rows
    oldest first, so a sink that is down or slow never delays another one or the caller. After a failure a
    sink waits retry[0] s, doubling up to retry[1] s. Rows left in the file by an earlier run are sent when an
    outbox with a sink of the same name opens it; those of sinks no longer configured are deleted then. An
    event a sink refuses for good (Refused) is dropped for it with a warning. At most `limit` undelivered
    events are kept. A face thumbnail is written to the file only when a sink will send it.
    keep_others: leave the rows of other sinks in the file (a one-off command given another destination on its
    command line); `others` says how many there are."""

    def __init__(self, path: Path | str, sinks: Sequence[Sink], *, retry=(0.5, 30.0), limit: int = MAX_EVENTS,
                 keep_others: bool = False):
        self.path, self.sinks, self.retry, self.limit = Path(path), list(sinks), retry, limit
        self.dropped = 0  # events dropped by this outbox because the file was full
        self.others = 0  # deliveries pending for sinks not of this outbox, kept in the file (keep_others)
        if len({sink.name for sink in self.sinks}) != len(self.sinks):
            raise ValueError("two sinks have the same name")
        try:
            self._db = open_private(self.path)
            self._db.executescript(SCHEMA)
            if keep_others:
                self.others = self._count_others()
            else:
                self._drop_orphans()
        except (OSError, sqlite3.Error) as error:
            raise DeliveryError(f"The outbox {self.path} cannot be used ({error}).") from error
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closed = threading.Event()
        self._wake = {sink.name: threading.Event() for sink in self.sinks}
        self._threads = [threading.Thread(target=self._deliver_all, args=(sink,), daemon=True,
                                          name=f"outbox {sink.name}") for sink in self.sinks]
        for thread in self._threads:
            thread.start()

    def publish(self, decision: Decision) -> None:
        """Store `decision` for every sink (on disk when this returns) and wake the delivery threads."""
        if not self.sinks:
            return
        body = decision.to_json(with_thumbnail=any(getattr(s, "thumbnails", False) for s in self.sinks))
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("publish() on a closed outbox")
            with self._transaction() as db:
                seq = db.execute("INSERT INTO events (id, body) VALUES (?, ?)", (decision.id, body)).lastrowid
                db.executemany("INSERT INTO pending VALUES (?, ?)", [(seq, s.name) for s in self.sinks])
                dropped = self._trim()
        if dropped:
            self._note_dropped(dropped)
        for wake in self._wake.values():
            wake.set()

    @contextlib.contextmanager
    def _transaction(self):
        """Statements that commit together; the caller holds self._lock."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise DeliveryError(f"The outbox {self.path} cannot be written ({error}).") from error

    def _note_dropped(self, count: int) -> None:
        """Say it once when the outbox first overflows, then after every 1000 more (not once per event)."""
        before, self.dropped = self.dropped, self.dropped + count
        if before == 0 or before // 1000 != self.dropped // 1000:
            log.warning("The outbox is full (%d undelivered events): the oldest are dropped, %d so far.",
                        self.limit, self.dropped)

    def _trim(self) -> int:
        count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        if count <= self.limit:
            return 0
        self._db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
                         (count - self.limit,))
        return count - self.limit

    def _count_others(self) -> int:
        names = [sink.name for sink in self.sinks]
        marks = ",".join("?" * len(names))
        return self._db.execute(f"SELECT COUNT(*) FROM pending WHERE sink NOT IN ({marks})", names).fetchone()[0]

    def _drop_orphans(self) -> None:
        """Delete the pending rows of sinks not among this outbox's (a destination taken out of the settings)
        and the events no sink has left to deliver, so that names and faces do not stay in the file."""
        names = [sink.name for sink in self.sinks]
        marks = ",".join("?" * len(names))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            count = self._db.execute(f"DELETE FROM pending WHERE sink NOT IN ({marks})", names).rowcount
            self._db.execute("DELETE FROM events WHERE seq NOT IN (SELECT seq FROM pending)")
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        if count:
            _empty_wal(self._db, self.path)
            log.warning("%d undelivered event(s) for destinations no longer configured were deleted from the outbox.",
                        count)

    def forget(self, name: str) -> int:
        """Withdraw the undelivered events about the person `name` (they asked to be deleted); returns how many.
        secure_delete overwrites them in the file (and the checkpoint in the write-ahead log)."""
        with self._lock:
            with self._transaction() as db:
                count = db.execute(FORGET, (name,)).rowcount
            self._checkpoint()
        return count

    def forget_all(self) -> int:
        """Withdraw every undelivered event (everyone was deleted); returns how many."""
        with self._lock:
            with self._transaction() as db:
                count = db.execute(FORGET_ALL).rowcount
            self._checkpoint()
        return count

    forget_in = staticmethod(forget_in)
    forget_all_in = staticmethod(forget_all_in)

    def _checkpoint(self) -> None:
        """Copy the write-ahead log into the file and empty it (old page versions of deleted rows go); the
        caller holds self._lock."""
        with contextlib.suppress(sqlite3.Error):
            _empty_wal(self._db, self.path)

    def pending(self) -> int:
        """Deliveries still to make to this outbox's sinks (an event for two sinks counts twice)."""
        names = [sink.name for sink in self.sinks]
        with self._lock:
            if self._closed.is_set():
                return 0
            marks = ",".join("?" * len(names))
            return self._db.execute(f"SELECT COUNT(*) FROM pending WHERE sink IN ({marks})", names).fetchone()[0]

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` s until nothing is pending; True when everything was delivered."""
        deadline = time.monotonic() + timeout
        while self.pending():
            left = deadline - time.monotonic()
            if left <= 0 or self._closed.is_set():
                return False
            with self._changed:
                self._changed.wait(min(left, 0.5))
        return True

    def close(self) -> None:
        """Stop delivering (what is pending stays in the file for the next outbox) and close the sinks.
        A delivery in progress is abandoned, not waited for beyond one second."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        for wake in self._wake.values():
            wake.set()
        for thread in self._threads:
            thread.join(timeout=1.0)
        with self._lock:
            self._db.close()
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _deliver_all(self, sink: Sink) -> None:
        """The thread of one sink: open it, then send its oldest pending row, wait when none, back off after a
        failure."""
        failures, wake, opened = 0, self._wake[sink.name], False
        while not self._closed.is_set():
            wake.clear()
            if not opened:
                problem = self._open(sink)
                opened = problem is None
            else:
                row = self._oldest(sink.name)
                if row is None:
                    if not self._closed.is_set():  # close() sets `wake` after `_closed`
                        wake.wait()
                    continue
                problem = self._send(sink, *row)
            if problem is None:
                if failures:
                    log.info("Events are delivered to %s again.", sink.name)
                failures = 0
                continue
            failures += 1
            if failures == 1:  # once per outage: a broker down for a day must not fill the log
                log.warning("Events are not delivered to %s, and will be tried again: %s", sink.name, problem)
            self._closed.wait(min(self.retry[1], self.retry[0] * 2 ** (failures - 1)))

    def _oldest(self, sink_name: str) -> tuple[int, bytes] | None:
        with self._lock:
            if self._closed.is_set():
                return None
            return self._db.execute("SELECT e.seq, e.body FROM pending p JOIN events e ON e.seq = p.seq "
                                    "WHERE p.sink = ? ORDER BY p.seq LIMIT 1", (sink_name,)).fetchone()

    def _open(self, sink: Sink) -> str | None:
        """Call the sink's open() if it has one; None when done, else why not."""
        opener = getattr(sink, "open", None)
        if opener is None:
            return None
        try:
            opener()
        except DeliveryError as error:
            return str(error)
        except Exception as error:  # a bug in a sink must not end its thread
            log.exception("Opening %s failed", sink.name)
            return f"{type(error).__name__}: {error}"
        return None

    def _send(self, sink: Sink, seq: int, body: bytes) -> str | None:
        """Deliver one row and remove it (also when the sink refused it for good); None when done, else why not."""
        try:
            decision = Decision.from_json(body)
            sink.deliver(decision)
        except Refused as error:
            log.warning("Event %s is dropped for %s, which refused it for good: %s", decision.id, sink.name, error)
        except DeliveryError as error:
            return str(error)
        except Exception as error:  # a bug in a sink must not end its thread
            log.exception("Delivery to %s failed", sink.name)
            return f"{type(error).__name__}: {error}"
        with self._changed:
            if not self._closed.is_set():
                with contextlib.suppress(DeliveryError), self._transaction() as db:  # if not, sent again later
                    db.execute("DELETE FROM pending WHERE seq = ? AND sink = ?", (seq, sink.name))
                    db.execute("DELETE FROM events WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM pending WHERE seq = ?)",
                               (seq, seq))
            self._changed.notify_all()
        return None
