"""LFW-format pair lists: View 1 (`pairsDevTrain.txt`: a count line, then pairs) and View 2
(`pairs.txt`: "folds n" line, then per fold n same-person pairs and n different-person pairs).

A line `Name i j` is a same-person pair; `NameA i NameB j` a different-person pair.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pair:
    first: Path
    second: Path
    same: bool
    fold: int


def lfw_image(images_root: Path, name: str, number: int) -> Path:
    return images_root / name / f"{name}_{number:04d}.jpg"


def read_pairs(pairs_file: Path, images_root: Path) -> list[Pair]:
    lines = [line.split() for line in Path(pairs_file).read_text().splitlines() if line.strip()]
    header, rows = lines[0], lines[1:]
    folds, per_half = (int(header[0]), int(header[1])) if len(header) == 2 else (1, len(rows))
    pairs = []
    for index, row in enumerate(rows):
        fold = index // (2 * per_half) if len(header) == 2 else 0
        if len(row) == 3:
            name, i, j = row
            pairs.append(Pair(lfw_image(images_root, name, int(i)), lfw_image(images_root, name, int(j)), True, fold))
        else:
            name_a, i, name_b, j = row
            pairs.append(Pair(lfw_image(images_root, name_a, int(i)), lfw_image(images_root, name_b, int(j)), False, fold))
    assert max(p.fold for p in pairs) < folds
    return pairs
