"""Labelled face chips for training: a folder with one sub-folder per person -> aligned chips, cached as .npz.

Every image goes through the app's own pipeline (detect -> align) once; the chips are what the encoder
sees at run time, so training and use share one front end.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class FaceSet:
    """Aligned chips with a person index each; names[labels[i]] is the person of chip i."""

    chips: np.ndarray  # (N, 150, 150, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64
    names: tuple[str, ...]
    sources: tuple[str, ...]  # the image each chip came from

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> "FaceSet":
        """The chips where keep is True (or at the given indices); labels are renumbered 0..P-1."""
        index = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        people, labels = np.unique(self.labels[index], return_inverse=True)
        return FaceSet(self.chips[index], labels.astype(np.int64), tuple(self.names[p] for p in people),
                       tuple(self.sources[i] for i in index))

    def people_with_at_least(self, shots: int) -> "FaceSet":
        counts = np.bincount(self.labels, minlength=len(self.names))
        return self.subset(counts[self.labels] >= shots)

    def split_people(self, held_out: float, seed: int = 0) -> tuple["FaceSet", "FaceSet"]:
        """(train, held-out) with disjoint identities; about `held_out` of the people go to the second."""
        order = np.random.default_rng(seed).permutation(len(self.names))
        count = max(1, int(round(held_out * len(self.names))))
        held = np.isin(self.labels, order[:count])
        return self.subset(~held), self.subset(held)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, chips=self.chips, labels=self.labels, names=np.array(self.names), sources=np.array(self.sources))

    @classmethod
    def load(cls, path: Path) -> "FaceSet":
        with np.load(path) as data:
            return cls(data["chips"], data["labels"].astype(np.int64), tuple(data["names"].tolist()),
                       tuple(data["sources"].tolist()))


def person_folders(folder: Path) -> list[tuple[Path, str]]:
    """(image, person) for every image in folder/<person>/; sorted, so the order is reproducible."""
    folder = Path(folder)
    if not folder.is_dir():
        from ..errors import BadInput

        raise BadInput(f"{folder} is not a folder: give a folder with one sub-folder of photos per person.")
    return [(image, person.name) for person in sorted(p for p in folder.iterdir() if p.is_dir())
            for image in sorted(person.iterdir()) if image.suffix.lower() in IMAGE_SUFFIXES]


def central_face(faces, image_shape):
    """The face whose box centre is nearest the image centre (LFW's subject; other people may be in the shot)."""
    centre = np.array([image_shape[1], image_shape[0]]) / 2
    return min(faces, key=lambda f: np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre))


def extract_chips(images: list[tuple[Path, str]], pipeline, progress=None) -> tuple[FaceSet, list[str]]:
    """Detect and align the subject of each image; returns the chips and the images where no face was found."""
    from ..errors import LikenessError
    from ..images import load_image

    chips, people, sources, failed = [], [], [], []
    for done, (path, person) in enumerate(images, 1):
        try:
            image = load_image(path)
            faces = pipeline.observe(image)
        except LikenessError:
            faces = []
        if faces:
            chips.append(central_face(faces, image.shape).chip)
            people.append(person)
            sources.append(str(path))
        else:
            failed.append(str(path))
        if progress is not None:
            progress(done, len(images))
    names, labels = np.unique(np.array(people, dtype=str), return_inverse=True) if people else (np.array([]), np.array([]))
    chips_array = np.stack(chips) if chips else np.zeros((0, 150, 150, 3), np.uint8)
    return FaceSet(chips_array, labels.astype(np.int64), tuple(names.tolist()), tuple(sources)), failed


def cached_face_set(images: list[tuple[Path, str]], cache: Path, pipeline_factory, progress=None) -> FaceSet:
    """Chips of these images, from `cache` when it holds exactly these images, else extracted and cached."""
    cache = Path(cache)
    wanted = sorted(str(p) for p, _ in images)
    if cache.exists():
        faces = FaceSet.load(cache)
        with np.load(cache) as data:
            seen = sorted(data["seen"].tolist()) if "seen" in data else None
        if seen == wanted:
            return faces
    faces, failed = extract_chips(images, pipeline_factory(), progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, chips=faces.chips, labels=faces.labels, names=np.array(faces.names),
             sources=np.array(faces.sources), seen=np.array(wanted), failed=np.array(failed, dtype=str))
    return faces


def lfw_images_of_pairs(root: Path, pairs_file: Path, all_shots: bool = True) -> list[tuple[Path, str]]:
    """The images of the people in an LFW pair list: every shot of them under root/images (all_shots) or only
    the images the pairs name."""
    from .pairs import read_pairs

    images_root = root / "images" if (root / "images").is_dir() else root
    pairs = read_pairs(pairs_file, images_root)
    named = {p for pair in pairs for p in (pair.first, pair.second)}
    if all_shots:
        people = {p.parent for p in named}
        named = {image for person in people for image in person.glob("*.jpg")}
    return sorted((p, p.parent.name) for p in named)

