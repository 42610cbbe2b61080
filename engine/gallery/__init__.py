"""The gallery: people and their face embeddings, behind one interface (base.GalleryBase) with two backends.

- sqlite.Gallery: one SQLite file on this machine, the embedded default (nothing changes for a single desk).
- postgres.PostgresGallery: a PostgreSQL server shared by many machines, synchronised live, with a local copy
  for offline kiosks.

`open_gallery(url, encoder_id)` picks the backend from a URL: empty for this machine's file of that encoder,
`sqlite:///absolute/path`, or `postgresql://user@host/db?sslmode=...`. `gallery_url(settings)` is the URL in
use: LIKENESS_GALLERY_URL when set, else the setting gallery.url.
"""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from ..config import Settings, gallery_url_problem
from ..errors import BadInput, EncoderMismatch, GalleryError
from .base import (  # noqa: F401
    Event,
    GalleryBase,
    GalleryStatus,
    ImportReport,
    Person,
    Shot,
    StoredShot,
    now,
    person_name,
    row_problem,
    thumbnail_jpeg,
)
from .sqlite import Gallery, default_path, default_path_of  # noqa: F401

URL_VARIABLE = "LIKENESS_GALLERY_URL"


def gallery_url(settings: Settings) -> str:
    """The gallery URL in use: the environment variable LIKENESS_GALLERY_URL when it is set (even empty),
    else the setting gallery.url."""
    return os.environ.get(URL_VARIABLE, settings.gallery.url)


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:/// URL."""
    return Path(url.removeprefix("sqlite://"))


def is_postgres(url: str | None) -> bool:
    return bool(url and url.startswith(("postgresql://", "postgres://")))


def open_gallery(url: str | None, encoder_id: str, *, copy_dir: Path | None = None,
                 keep_copy: bool = True) -> GalleryBase:
    """The gallery at `url` for embeddings of `encoder_id`: empty or None for this machine's file of that encoder
    (default_path), sqlite:///absolute/path for another file, postgresql://... for a shared server (its copy for
    offline work kept in `copy_dir`, default the data folder; keep_copy=False, for one-off commands, writes no
    copy and needs the server).

    Raises BadInput for a URL of no known kind, EncoderMismatch when the gallery holds another encoder's
    embeddings, GalleryError when it cannot be opened.
    """
    if problem := gallery_url_problem(url or ""):
        raise BadInput(f"The gallery URL {problem}.")
    if not url:
        return Gallery(default_path_of(encoder_id), encoder_id)
    if url.startswith("sqlite://"):
        return Gallery(sqlite_path(url), encoder_id)
    from .postgres import PostgresGallery

    return PostgresGallery(url, encoder_id, copy_dir=copy_dir, keep_copy=keep_copy)


def stored_encoder(url: str) -> str | None:
    """The encoder id a gallery was made for, without opening it as a gallery; None for no gallery there yet.
    `url` is sqlite:///path or postgresql://..."""
    if problem := gallery_url_problem(url) or (not url and "must be given"):
        raise BadInput(f"The gallery URL {problem}.")
    if is_postgres(url):
        from .postgres import stored_encoder as on_server

        return on_server(url)
    from .sqlite import stored_encoder as in_file

    return in_file(sqlite_path(url))


def copy_gallery(source_url: str, target_url: str, progress=None) -> tuple[int, int, int]:
    """Copy everything of the gallery at `source_url` (people, embeddings, sources, thumbnails, times, the events
    log) into the empty gallery at `target_url`, either backend to either, in one transaction at the target.
    `progress(done, total)` is called as shots are copied. Returns (people, shots, events) copied.

    Refuses (BadInput) when there is no gallery at the source, EncoderMismatch when the target belongs to another
    encoder, GalleryError when the target already holds people.
    """
    encoder = stored_encoder(source_url)
    if encoder is None:
        raise BadInput(f"There is no gallery at {_shown(source_url)} to copy.")
    target_encoder = stored_encoder(target_url)
    if target_encoder not in (None, encoder):
        raise EncoderMismatch(f"The gallery at {_shown(target_url)} holds embeddings of encoder {target_encoder}, "
                              f"not of {encoder} like {_shown(source_url)}; copy into a new gallery.")
    with open_gallery(source_url, encoder, keep_copy=False) as source, \
            open_gallery(target_url, encoder, keep_copy=False) as target:
        total, events = len(source.matrix().embeddings), list(source.all_events())
        people: set[str] = set()

        def counted():
            for done, shot in enumerate(source.shots(), 1):
                if problem := row_problem((shot.name, shot.vector, shot.source, shot.thumbnail), source.dimension):
                    raise GalleryError(f"Nothing was copied: shot {done} of {_shown(source_url)} has {problem}.")
                shot = shot._replace(name=unicodedata.normalize("NFC", shot.name))
                people.add(shot.name)
                if progress and (done % 500 == 0 or done == total):
                    progress(done, total)
                yield shot

        target.load(counted(), events)
    return len(people), total, len(events)


def _shown(url: str) -> str:
    if is_postgres(url):
        from .postgres import where_of

        return where_of(url)
    return str(sqlite_path(url))
