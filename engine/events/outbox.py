"""The outbox: decisions written to an SQLite file before publish() returns, delivered by one background
thread per sink, retried with exponential back-off, removed once every sink has them."""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import DeliveryError
from ..logs import LOGGER
from .decision import Decision, Sink

MAX_EVENTS = 10_000  # undelivered events kept; beyond it the oldest are dropped (a broker down ~14 h at 1 event / 5 s)
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE, sink TEXT NOT NULL, PRIMARY KEY (sink, seq));
"""
log = logging.getLogger(f"{LOGGER}.events")


def _open_private(path: Path) -> sqlite3.Connection:
    """The SQLite file at `path`, created readable by its owner only (600), with its -wal and -shm."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "secure_delete=ON"):
        db.execute(f"PRAGMA {pragma}")
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(OSError):
            file.chmod(0o600)
    return db


class Outbox:
    """Publish decisions to `sinks` without waiting for the network.

    Each (event, sink) pair is a pending row in the file at `path`; a thread per sink sends that sink's rows
    oldest first, so a sink that is down or slow never delays another one or the caller. After a failure a
    sink waits retry[0] s, doubling up to retry[1] s. Rows left in the file by an earlier run are sent when an
    outbox with a sink of the same name opens it. At most `limit` undelivered events are kept. A face
    thumbnail is written to the file only when a sink will send it."""

    def __init__(self, path: Path | str, sinks: Sequence[Sink], *, retry=(0.5, 30.0), limit: int = MAX_EVENTS):
        self.path, self.sinks, self.retry, self.limit = Path(path), list(sinks), retry, limit
        self.dropped = 0  # events dropped by this outbox because the file was full
        if len({sink.name for sink in self.sinks}) != len(self.sinks):
            raise ValueError("two sinks have the same name")
        try:
            self._db = _open_private(self.path)
            self._db.executescript(SCHEMA)
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

    def forget(self, name: str) -> int:
        """Withdraw the undelivered events about the person `name` (they asked to be deleted); returns how many.
        secure_delete overwrites them in the file."""
        with self._lock, self._transaction() as db:
            return db.execute("DELETE FROM events WHERE json_extract(CAST(body AS TEXT), '$.name') = ?",
                              (name,)).rowcount

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
        """The thread of one sink: send its oldest pending row, wait when none, back off after a failure."""
        failures, wake = 0, self._wake[sink.name]
        while not self._closed.is_set():
            wake.clear()
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

    def _send(self, sink: Sink, seq: int, body: bytes) -> str | None:
        """Deliver one row and remove it; None when done, else why not."""
        try:
            sink.deliver(Decision.from_json(body))
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
