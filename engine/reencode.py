"""Moving a gallery to another encoder: every stored shot re-embedded into a new, empty gallery, never in place.

A shot is re-embedded from the photo it was enrolled from when that file is still where it was and one of its
faces is the stored one (its aligned chip looks like the stored thumbnail); otherwise from the stored thumbnail
itself, which is the aligned 150x150 dlib chip of the face (JPEG). The thumbnail costs a little accuracy
(bench/reencode.py measures how much); a shot with neither is left out and named.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import GalleryError, LikenessError
from .faces.detect import Detection
from .gallery import GalleryBase, Shot
from .images import library_messages, load_image
from .pipeline import FacePipeline

SAME_FACE = 12.0  # mean absolute difference (0-255) under which a photo's chip is the stored thumbnail's face


@dataclass(frozen=True)
class ReencodeReport:
    people: int
    from_photos: int
    from_thumbnails: int
    left_out: tuple[str, ...]  # one sentence per shot that could not be re-embedded


def reencode(source: GalleryBase, target: GalleryBase, pipeline: FacePipeline,
             progress: Callable[[int, int], None] | None = None) -> ReencodeReport:
    """Re-embed every shot of `source` with the pipeline's encoder into the empty `target` (a gallery of that
    encoder), with the events log; refuses (GalleryError) when `target` already holds people."""
    if target.names():
        raise GalleryError("The new encoder's gallery already holds people: re-encoding only fills an empty one "
                           "(delete its people or give another gallery).")
    shots, counts, left_out = [], {"photo": 0, "thumbnail": 0}, []
    originals = list(source.shots())
    for done, shot in enumerate(originals, 1):
        try:
            vector, how = _embedding(shot, pipeline)
        except LikenessError as error:
            left_out.append(f"{shot.name}'s shot from {shot.source or 'the camera'}: {error}")
        else:
            counts[how] += 1
            shots.append(shot._replace(vector=vector.astype(np.float32).tobytes()))
        if progress:
            progress(done, len(originals))
    target.load(shots, source.all_events())
    return ReencodeReport(len({s.name for s in shots}), counts["photo"], counts["thumbnail"], tuple(left_out))


def _embedding(shot: Shot, pipeline: FacePipeline) -> tuple[np.ndarray, str]:
    thumbnail = decoded_thumbnail(shot.thumbnail)
    photo = Path(shot.source) if shot.source else None
    if photo is not None and photo.is_file() and thumbnail is not None:
        try:
            faces = pipeline.observe(load_image(photo))
        except LikenessError:
            faces = []
        gaps = [np.abs(face.chip.astype(np.float32) - thumbnail).mean() for face in faces]
        if gaps and min(gaps) < SAME_FACE:
            return faces[int(np.argmin(gaps))].embedding, "photo"
    if thumbnail is None:
        raise GalleryError("it has no stored face to re-embed and its photo is gone")
    return chip_embedding(thumbnail, pipeline), "thumbnail"


def decoded_thumbnail(thumbnail: bytes | None) -> np.ndarray | None:
    if not thumbnail:
        return None
    with library_messages():  # a damaged thumbnail is said in one sentence, not in libjpeg's words
        image = cv2.imdecode(np.frombuffer(thumbnail, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def chip_embedding(chip: np.ndarray, pipeline: FacePipeline) -> np.ndarray:
    """The pipeline encoder's embedding of a stored dlib chip (150x150 RGB): the chip itself for dlib; for a partner
    that needs landmarks or a box, the landmarks where the chip's warp put them (the template) and the box the
    detector finds in the chip."""
    template = pipeline.template
    if chip.shape[:2] != (template.size, template.size):
        raise GalleryError(f"its stored face is {chip.shape[1]}x{chip.shape[0]}, not a {template.size}-pixel chip")
    found = pipeline.detector.detect(chip)
    box = max(found, key=lambda d: d.area).box if found else np.array([0, 0, template.size, template.size], float)
    face = Detection(np.asarray(box, np.float32), 1.0, template.points.astype(np.float32))
    return pipeline.encoder.encode_faces(chip, [face], chip[None])[0]
