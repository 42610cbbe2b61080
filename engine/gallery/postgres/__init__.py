"""A gallery on a PostgreSQL server, shared by several machines (doors, a reception desk that enrolls, an office).

- schema.py: the schema and its migrations, connect(), errors in one sentence, `server init` (init_server).
- sync.py: live sync, the thread that LISTENs for the server's NOTIFY, reconnects and delivers queued events.
- local_copy.py: this machine's copies of the server's people, in memory (the matrix) and on disk (offline).
- store.py: PostgresGallery, the reads and writes.
"""
from . import local_copy, sync
from .local_copy import LocalCopy, copy_path
from .schema import MIGRATIONS, SCHEMA_VERSION, ensure_schema, init_server, stored_encoder, where_of
from .store import PostgresGallery

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "LocalCopy", "PostgresGallery", "copy_path", "ensure_schema", "init_server",
           "local_copy", "stored_encoder", "sync", "where_of"]
