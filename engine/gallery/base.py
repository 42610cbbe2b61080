"""What every gallery backend shares: the records it returns, the checks on names and vectors, the import of an
export file, status and change listeners."""
from __future__ import annotations

import contextlib
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from ..errors import BadInput, EncoderMismatch, GalleryError
from ..faces.encoders import embedding_size
from .export import read_export

if TYPE_CHECKING:
    from ..match import GalleryMatrix

MAX_NAME_CHARS = 200
MAX_SOURCE_CHARS = 4096
MAX_THUMBNAIL_BYTES = 4 << 20
NORM_TOLERANCE = 1e-3  # how far from 1 a stored embedding's length may be (float32 rounding is ~1e-7)
# Bidirectional embeddings, overrides and isolates: they make a name display as another.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
JOINERS = "\u200c\u200d"  # zero-width non-joiner and joiner


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    embedding_count: int
    created: str  # ISO 8601, UTC
    thumbnail: bytes | None  # JPEG of the first shot that has one


class Event(NamedTuple):
    time: str  # ISO 8601, UTC
    kind: str  # "enroll", "verify", "identify", "delete", "spoof", ...
    person: str | None
    distance: float | None
    detail: str | None
    written_by: str | None = None  # a shared gallery's server login that wrote the line (None: this computer)


class Shot(NamedTuple):
    """One stored embedding with all it carries: what `gallery copy` moves between backends."""
    name: str
    person_created: str  # ISO 8601, UTC
    vector: bytes  # float32
    source: str
    created: str
    thumbnail: bytes | None


class StoredShot(NamedTuple):
    """One shot of a person as the Gallery tab lists it: its id (for delete_shot), where it came from, when."""
    id: int
    source: str
    created: str  # ISO 8601, UTC
    thumbnail: bytes | None


@dataclass(frozen=True)
class ImportReport:
    people: int
    embeddings: int
    duplicates_skipped: int

    def __str__(self) -> str:
        shots, people = ("shot" if self.embeddings == 1 else "shots"), ("person" if self.people == 1 else "people")
        return f"{self.embeddings} {shots} of {self.people} {people}, {self.duplicates_skipped} already present"


@dataclass(frozen=True)
class GalleryStatus:
    """Whether the gallery's store is reachable; when it is not, since when, and the time of the copy in use."""
    online: bool = True
    since: datetime | None = None  # when the server became unreachable (UTC)
    copy_time: datetime | None = None  # when the local copy was last synchronised (UTC)
    pending_events: int = 0  # events waiting in the local copy for the server
    where: str = ""

    def __str__(self) -> str:
        if self.online:
            return f"gallery {self.where}".strip()
        since = _local_clock(self.since)
        copy = f"the copy of {_local_clock(self.copy_time)}" if self.copy_time else "no copy"
        return f"gallery server unreachable since {since} — recognising from {copy}"


def _local_clock(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%H:%M") if moment else "?"


def thumbnail_jpeg(chip_rgb: np.ndarray) -> bytes:
    """The face chip (H, W, 3) uint8 RGB as JPEG bytes, to show the person in the gallery."""
    _, data = cv2.imencode(".jpg", cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return data.tobytes()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _checked_embeddings(embeddings, sources, thumbnails, dimension: int) -> tuple[np.ndarray, list]:
    array = np.asarray(embeddings, np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != dimension or len(array) == 0:
        raise BadInput(f"Embeddings must be an (n, {dimension}) array with n >= 1, not of shape {np.shape(embeddings)}.")
    if not np.isfinite(array).all():
        raise BadInput("An embedding contains NaN or infinity; it comes from an image where no face was found.")
    if problem := norm_problem(array):
        raise BadInput(f"Embeddings are unit vectors (norm 1 within {NORM_TOLERANCE}); this is {problem}.")
    thumbnails = list(thumbnails) if thumbnails is not None else [None] * len(array)
    if len(sources) != len(array) or len(thumbnails) != len(array):
        raise BadInput(f"Give one source and one thumbnail (or None) per embedding: {len(array)} embeddings, "
                       f"{len(sources)} sources, {len(thumbnails)} thumbnails.")
    return np.ascontiguousarray(array), thumbnails


def _text_problem(text, what: str, longest: int) -> str | None:
    """Why `text`, a name or a source read from an untrusted file, cannot be stored; None when it can."""
    if not isinstance(text, str) or not text.strip():
        return f"{what} that is empty or not text"
    if len(text) > longest:
        return f"{what} longer than {longest} characters"
    if any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI_CONTROLS for c in text):
        return f"{what} with control characters ({text[:40]!a})"
    return None


def _name_problem(name) -> str | None:
    """Why `name` cannot be a person's name; None when it can. Besides the rule of all text: no invisible
    formatting character (Unicode category Cf: U+200B, U+200E, U+FEFF ...), with which "A\u200bda" would show
    as a second "Ada"; the joiners U+200C and U+200D only where scripts that need them do (between two letters
    that are not Latin: Persian, the Indic scripts, emoji)."""
    if problem := _text_problem(name, "a name", MAX_NAME_CHARS):
        return problem
    for i, char in enumerate(name):
        if unicodedata.category(char) == "Cf" and not _joining(name, i):
            return f"a name with an invisible formatting character (U+{ord(char):04X})"
    return None


def _joining(text: str, i: int) -> bool:
    """Whether text[i] is a joiner between two characters of scripts that use one."""
    if text[i] not in JOINERS or not 0 < i < len(text) - 1:
        return False
    return not any(c.isascii() or unicodedata.name(c, "LATIN").startswith("LATIN") or not c.isprintable()
                   for c in (text[i - 1], text[i + 1]))


def person_name(name: str) -> str:
    """A name typed, given on the command line or read from a file, in Unicode's composed form (NFC: "Ada"
    typed with a combining accent and with the accented letter is one person); BadInput when it breaks the
    rule of names (empty, too long, control or invisible formatting characters)."""
    if not isinstance(name, str) or not name.strip():
        raise BadInput("A person needs a name that is not empty.")
    if problem := _name_problem(name):
        raise BadInput(f"A person cannot have {problem}.")
    return unicodedata.normalize("NFC", name)



def _check_shot(name: str, shot_id: int, shot_ids: list[int]) -> None:
    """BadInput unless shot_id is one of a person's shots and not their only one."""
    if shot_id not in shot_ids:
        raise BadInput(f"{name} has no shot {shot_id}; it may have been removed already.")
    if len(shot_ids) == 1:
        raise BadInput(f"That is {name}'s only shot: delete {name} instead.")


def row_problem(row: tuple, dimension: int) -> str | None:
    """What is wrong with one (name, vector, source, thumbnail) row of an export; None when nothing is."""
    name, vector, source, thumbnail = row
    problem = _name_problem(name)
    if problem:
        return problem
    problem = vector_problem(vector, dimension) or _text_problem(source, "a source", MAX_SOURCE_CHARS)
    if problem:
        return problem
    if thumbnail is not None and not isinstance(thumbnail, bytes):
        return f"a thumbnail stored as {type(thumbnail).__name__}, not as JPEG bytes"
    if thumbnail is not None and len(thumbnail) > MAX_THUMBNAIL_BYTES:
        return f"a thumbnail of {len(thumbnail)} bytes, more than {MAX_THUMBNAIL_BYTES}"
    return None


def vector_problem(vector, dimension: int) -> str | None:
    """What is wrong with one stored embedding; None when it is the bytes of a unit vector of `dimension` float32."""
    if not isinstance(vector, bytes):
        return f"an embedding stored as {type(vector).__name__}, not as {dimension} float32 numbers"
    if len(vector) != 4 * dimension:
        return f"an embedding of {len(vector)} bytes, not of {dimension} float32 numbers"
    return norm_problem(np.frombuffer(vector, np.float32)[None])


def norm_problem(vectors: np.ndarray) -> str | None:
    """What is wrong with the first (n, d) row that is not a unit vector; None when each is. Every encoder makes
    unit vectors: a zero or scaled one would give NaN distances, or bring an impostor closer than the person."""
    norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
    bad = ~(np.abs(norms - 1) <= NORM_TOLERANCE)  # NaN too
    if not bad.any():
        return None
    norm = norms[np.argmax(bad)]
    return "an embedding that contains NaN or infinity" if not np.isfinite(norm) else \
        f"an embedding of norm {norm:.6g}, not a unit vector"


def first_damaged(vectors: list, dimension: int) -> tuple[int, str] | None:
    """(index, what is wrong) of the first stored embedding that is not a unit vector of `dimension` float32s;
    None when all are (a gallery file edited by another program, a damaged page)."""
    for index, vector in enumerate(vectors):  # the types and lengths, before they are read as numbers
        if not isinstance(vector, bytes) or len(vector) != 4 * dimension:
            return index, str(vector_problem(vector, dimension))
    if not vectors:
        return None
    matrix = np.frombuffer(b"".join(vectors), np.float32).reshape(-1, dimension)
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
    bad = np.flatnonzero(~(np.abs(norms - 1) <= NORM_TOLERANCE))
    return (int(bad[0]), str(norm_problem(matrix[bad[:1]]))) if len(bad) else None


# The names a person had before renames: each rename leaves a line (kind 'rename', the new name, the old one as
# detail) that follows later renames like every line of theirs, and goes when they are deleted.
FORMER_NAMES = "SELECT detail FROM events WHERE kind = 'rename' AND person = ?"


def former_names(rows: list[tuple]) -> list[str]:
    return [row[0] for row in rows if isinstance(row[0], str)]


def group_by_person(rows: list[tuple], dimension: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """(vectors, owners, person ids, names) of (person id, name, vector bytes) rows ordered by person: the
    matrix a gallery matches against, whichever store the rows came from."""
    vectors = np.frombuffer(b"".join(bytes(r[2]) for r in rows), np.float32).reshape(-1, dimension)
    person_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    ids, first_row, owners = np.unique(person_ids, return_index=True, return_inverse=True)
    return vectors, owners.astype(np.int64).reshape(-1), ids, tuple(rows[i][1] for i in first_row)


def shots_by_person(rows) -> dict[str, list[tuple]]:
    """An export's (name, vector, source, thumbnail) rows as {name: [(vector, source, thumbnail), ...]}."""
    by_person: dict[str, list[tuple]] = {}
    for name, vector, source, thumbnail in rows:
        by_person.setdefault(name, []).append((vector, source, thumbnail))
    return by_person


def each_person(by_person: dict[str, list[tuple]], progress: Callable[[int, int], None] | None):
    """The (name, shots) of shots_by_person, telling progress(people done, people) every 1,000 people and at the
    end: an import of 200,000 people takes a while."""
    total = len(by_person)
    for done, person in enumerate(by_person.items(), 1):
        yield person
        if progress and (done % 1000 == 0 or done == total):
            progress(done, total)


class GalleryBase(ABC):
    """The interface of a gallery: people and their embeddings from one encoder.

    Backends implement enroll, people, embeddings_of, thumbnails_of, shots_of, delete_shot, rename, delete,
    delete_all, log_event, events, matrix, export, close, and for import and `gallery copy`: _merge, shots,
    all_events, load.
    """

    encoder_id: str
    dimension: int
    undelivered = 0  # after close(): log lines a one-off session could neither write nor keep (server gone)

    # What each backend implements (sqlite.Gallery, postgres.PostgresGallery):
    @abstractmethod
    def enroll(self, name: str, embeddings: np.ndarray, sources: list[str],
               thumbnails: list[bytes | None] | None = None) -> int: ...

    @abstractmethod
    def people(self) -> list[Person]: ...

    @abstractmethod
    def embeddings_of(self, name: str) -> np.ndarray: ...

    @abstractmethod
    def thumbnails_of(self, name: str) -> list[bytes]: ...

    @abstractmethod
    def shots_of(self, name: str) -> list[StoredShot]: ...

    @abstractmethod
    def delete_shot(self, name: str, shot_id: int) -> None: ...

    @abstractmethod
    def rename(self, old: str, new: str) -> None: ...

    @abstractmethod
    def delete(self, name: str) -> tuple[str, ...]:
        """Delete a person; returns every name they had (this one first, then those before renames)."""

    @abstractmethod
    def delete_all(self) -> None: ...

    @abstractmethod
    def log_event(self, kind: str, name: str | None = None, distance: float | None = None,
                  detail: str = "") -> None: ...

    @abstractmethod
    def events(self, limit: int = 100) -> list[Event]: ...

    @abstractmethod
    def matrix(self) -> GalleryMatrix: ...

    @abstractmethod
    def export(self, path: Path | str) -> None: ...

    def names(self) -> list[str]:
        """The enrolled names, sorted as people() sorts them, without counting shots or reading thumbnails
        (from the matrix in memory): for callers that only list or count people."""
        return sorted(self.matrix().names, key=lambda name: (name.lower(), name))

    def __init__(self, encoder_id: str):
        self.encoder_id, self.dimension = encoder_id, embedding_size(encoder_id)
        self._listeners: list[Callable[[str], None]] = []
        self._listeners_lock = threading.Lock()

    def add_listener(self, callback: Callable[[str], None]) -> None:
        """Call `callback(what)` after a change: what is "people" (someone enrolled, renamed or deleted, here or
        on another machine) or "status" (the server went away or came back). It runs on the gallery's own
        thread for changes from elsewhere: a GUI forwards it to its thread (a Qt signal) and returns at once."""
        with self._listeners_lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        with self._listeners_lock, contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    def _tell(self, what: str) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for callback in listeners:
            with contextlib.suppress(Exception):  # a listener's bug must not stop the gallery
                callback(what)

    def status(self) -> GalleryStatus:
        """Whether the store is reachable (always, for a file on this machine)."""
        return GalleryStatus(where=str(getattr(self, "path", "")))

    def import_(self, path: Path | str, progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Merge a file written by export(): new people are added; a known name gets the shots it lacks;
        progress(people done, people) is told as they are added.

        The file is untrusted: it is opened read-only, only plain tables are read (no view, virtual table or
        trigger runs), SQLite's work is bounded by the file's size, and every value is checked before any row
        enters the gallery; one bad row refuses the whole import and the gallery stays as it was.

        Raises EncoderMismatch when the file holds another encoder's embeddings, GalleryError when it is
        not an export or holds a value that is not valid. Returns how many people and shots came in and how
        many were already present.
        """
        path = Path(path)
        encoders, rows = read_export(path)
        foreign = {str(e) for e in encoders if e != self.encoder_id}
        if foreign:
            raise EncoderMismatch(f"The file {path} holds embeddings of encoder {min(foreign)}, not of "
                                  f"{self.encoder_id}; export it again from a gallery of this encoder.")
        for number, row in enumerate(rows, 1):
            problem = row_problem(row, self.dimension)
            if problem:
                raise GalleryError(f"The file {path} was not imported, nothing was added: shot {number} has {problem}.")
        return self._merge([(unicodedata.normalize("NFC", name), *rest) for name, *rest in rows], progress)

    def _merge(self, rows, progress: Callable[[int, int], None] | None = None) -> ImportReport:
        raise NotImplementedError

    def shots(self) -> Iterator[Shot]:
        """Every stored embedding with its person, source, times and thumbnail, grouped by person, oldest first."""
        raise NotImplementedError

    def all_events(self) -> Iterator[Event]:
        """The whole events log, oldest first."""
        raise NotImplementedError

    def load(self, shots: Iterable[Shot], events: Iterable[Event]) -> None:
        """Fill an empty gallery with shots and events as they are (times kept), in one transaction."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
