"""SQLite files that come from outside, read as untrusted input: an export file given to `import`, and any gallery
file a user points at. Neither may run SQL its author wrote (views, triggers, virtual tables, computed columns),
hold tables Likeness does not know, keep SQLite busy beyond what its size needs, or ignore Ctrl+C."""
from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

from ..errors import GalleryError

GALLERY_TABLES = ("meta", "people", "embeddings", "events")
GALLERY_INDEXES = ("embeddings_person",)
EXPORT_TABLES = ("meta", "people", "embeddings")  # what an export must have (its events table is empty)
MAX_VALUE_BYTES = 16 << 20  # SQLite's longest string or blob while reading an export
STEP = 1000  # SQLite VM instructions between two calls of a progress handler
# Reading a real export takes about 0.02 VM instructions per byte of the file (20,000 people: 15 MB, 280,000
# instructions); a file may take 50 times that, plus a constant for the smallest files, whatever its size.
WORK_PER_BYTE = 1.0
WORK_CONSTANT = 10_000_000


def limit_work(db: sqlite3.Connection, instructions: float | None = None) -> Callable[[], bool]:
    """Stop each statement on `db` once about `instructions` SQLite VM instructions were spent on the connection
    (None: never), and let Ctrl+C stop a statement: the progress handler is Python code, where a pending
    KeyboardInterrupt is raised, which aborts the statement ("interrupted"; see interruption()). Returns a
    function that says whether the limit was reached."""
    calls = [0]
    limit = float("inf") if instructions is None else instructions / STEP

    def spent() -> bool:
        calls[0] += 1
        return calls[0] > limit

    db.set_progress_handler(spent, STEP)
    return lambda: calls[0] > limit


def interruption(error: sqlite3.Error, exhausted: Callable[[], bool] = lambda: False) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt to raise when `error` is a statement aborted by Ctrl+C (through limit_work's handler),
    not by the work limit; None for any other error."""
    if isinstance(error, sqlite3.OperationalError) and str(error) == "interrupted" and not exhausted():
        return KeyboardInterrupt()
    return None


def schema_problem(db: sqlite3.Connection, required: tuple[str, ...] = ()) -> str | None:
    """What in the schema of `db` a Likeness gallery or export never has, as the end of a sentence; None when
    nothing. Reading such a file would run SQL its author wrote (a recursive view can run for ever or fill the
    memory; a trigger can copy a deleted person elsewhere), or leave data a deletion does not reach."""
    schema = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    kinds = {kind for kind, *_ in schema}
    if "trigger" in kinds:
        return "contains triggers"
    if "view" in kinds:
        return "contains views"
    if any(not isinstance(name, str) or not isinstance(table, str) for _, name, table, _ in schema):
        return "has a schema that SQLite never writes"
    for kind, name, _, sql in schema:
        if kind == "table" and str(sql or "").lstrip().upper().startswith("CREATE VIRTUAL"):
            return f"has a virtual table {name!r}"
    tables = set()
    for kind, name, table, _ in schema:
        if name.startswith("sqlite_"):  # SQLite's own: automatic indexes, statistics, sequences
            continue
        if kind == "table" and name in GALLERY_TABLES:
            tables.add(name)
        elif kind != "index" or name not in GALLERY_INDEXES or table not in GALLERY_TABLES:
            return f"has {'a table' if kind == 'table' else 'an index'} {name!r} that Likeness never makes"
    for table in required:
        if table not in tables:
            return f"has no table {table!r}"
    for table in sorted(tables):
        if any(column[6] for column in db.execute(f"PRAGMA table_xinfo({table})")):
            return f"has computed or hidden columns in {table!r}"
    return None


def read_export(path: Path) -> tuple[set, list[tuple]]:
    """The encoder ids and the (name, vector, source, thumbnail) rows of an export file, read as untrusted input:
    read-only, only plain tables, at most WORK_PER_BYTE SQLite VM instructions per byte of the file."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise GalleryError(f"Cannot read the file {path}: {error.strerror or error}.") from error
    if not stat.S_ISREG(info.st_mode):
        raise GalleryError(f"{path} is not a regular file, so it is not a Likeness gallery export.")
    # A URI with the path percent-encoded: '#', '?' and '%' in a file name stay part of the name.
    uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        source = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise GalleryError(f"The file {path} is not a Likeness gallery export.") from error
    exhausted = limit_work(source, WORK_PER_BYTE * info.st_size + WORK_CONSTANT)
    try:
        source.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        for pragma in ("trusted_schema=OFF", "query_only=ON", "cell_size_check=ON"):
            source.execute(f"PRAGMA {pragma}")
        if problem := schema_problem(source, EXPORT_TABLES):
            raise GalleryError(f"The file {path} {problem}, so it is not a Likeness gallery export.")
        meta = source.execute("SELECT value FROM meta WHERE key='encoder'").fetchone()
        encoders = {meta[0]} | {r[0] for r in source.execute("SELECT DISTINCT encoder FROM embeddings")}
        rows = source.execute("SELECT p.name, e.vector, e.source, e.thumbnail FROM embeddings e "
                              "JOIN people p ON p.id=e.person_id ORDER BY p.id, e.id").fetchall()
    except (sqlite3.Error, TypeError) as error:
        if isinstance(error, sqlite3.Error) and (interrupted := interruption(error, exhausted)):
            raise interrupted from error
        if exhausted():
            raise GalleryError(f"The file {path} keeps SQLite busy far longer than a file of its size needs, so it "
                               "is not a Likeness gallery export.") from error
        raise GalleryError(f"The file {path} is not a Likeness gallery export.") from error
    finally:
        source.close()
    return encoders, rows
