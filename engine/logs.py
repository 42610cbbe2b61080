"""The log file: tracebacks of unexpected errors, in the data folder (the user sees one sentence, never a traceback).

    logging.getLogger("likeness").exception("what was being done")  # after start_logging()
"""
from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

from .config import data_dir, make_data_dir
from .errors import LikenessError

LOGGER = "likeness"
LOG_BYTES, LOG_BACKUPS = 1_000_000, 3


class PrivateLogFile(RotatingFileHandler):
    """A rotating log whose files only their owner can read (600): tracebacks may name people and files."""

    def _open(self):
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)
        return stream


def log_file() -> Path:
    return data_dir() / "logs" / "likeness.log"


def start_logging() -> Path | None:
    """Send the "likeness" logger's records to log_file() (rotating, 600, in a 700 folder); returns that file,
    or None when the data folder cannot be written. Calling again for another data folder moves the log there."""
    path, logger = log_file(), logging.getLogger(LOGGER)
    try:
        make_data_dir()
        path.parent.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    for handler in [h for h in logger.handlers if isinstance(h, PrivateLogFile)]:
        if handler.baseFilename == os.path.abspath(path):
            return path
        logger.removeHandler(handler)
        handler.close()
    handler = PrivateLogFile(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return path


def log_unexpected(error: BaseException, doing: str) -> None:
    """Keep the traceback of an error that is not one of ours (a bug, or a library failing) in the log file;
    ours are sentences the user already sees."""
    if not isinstance(error, LikenessError):
        logging.getLogger(LOGGER).error("unexpected error while %s", doing, exc_info=error)
