"""Matching embeddings: distances, verify 1:1 (d <= tau), identify 1:K open set.

Embeddings are unit vectors, so ||q - g||^2 = 2 - 2 q.g and all distances against the gallery come
from one matrix product. A person is represented by the re-normalised mean of their stored embeddings
("mean", the default): on LFW it recognises more people than their closest single shot ("best") at the
same rate of strangers accepted (bench/gallery_rule.py, numbers in README.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

CANDIDATES = 64  # nearest embeddings examined per probe to find the best and the runner-up person


@dataclass(frozen=True)
class GalleryMatrix:
    """All stored embeddings of one encoder: row i belongs to person names[owners[i]]."""

    embeddings: np.ndarray  # (M, 128) float32
    owners: np.ndarray  # (M,) int index into names
    names: tuple[str, ...]

    @cached_property
    def per_person_means(self) -> "GalleryMatrix":
        """One row per person: the re-normalised mean of their embeddings (computed once per matrix)."""
        sums = np.zeros((len(self.names), self.embeddings.shape[1]), np.float64)
        np.add.at(sums, self.owners, self.embeddings)
        means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        return GalleryMatrix(means.astype(np.float32), np.arange(len(self.names)), self.names)


@dataclass(frozen=True)
class Verification:
    same: bool
    distance: float
    tau: float


@dataclass(frozen=True)
class Identification:
    name: str | None  # None when not recognized
    best_name: str | None  # the closest person, recognized or not
    distance: float
    runner_up_name: str | None
    runner_up_distance: float
    recognized: bool

    @property
    def margin(self) -> float:
        """How much farther the runner-up is than the best match (inf with a one-person gallery)."""
        return self.runner_up_distance - self.distance


def distances(queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(n, M) Euclidean distances between unit vectors, by one matrix product."""
    return np.sqrt(np.clip(2.0 - 2.0 * (queries @ matrix.T), 0.0, None))


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    mean = embeddings.mean(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def verify(probe: np.ndarray, enrolled: np.ndarray, tau: float) -> Verification:
    """Is the probe the person whose embeddings are `enrolled` (k, 128)? Same when their mean is within tau."""
    distance = float(distances(probe[None], mean_embedding(enrolled)[None])[0, 0])
    return Verification(distance <= tau, distance, tau)


def identify(probes: np.ndarray, gallery: GalleryMatrix, tau: float, rule: str = "mean") -> list[Identification]:
    """Open-set 1:K: for each probe the closest person, the closest other person, and whether d <= tau.

    rule "mean" compares with each person's mean embedding, "best" with their closest stored one.
    """
    if rule == "mean":
        gallery = gallery.per_person_means
    similarity = probes @ gallery.embeddings.T  # the nearest have the largest dot product: no sqrt over all K
    size = similarity.shape[1]
    k = min(CANDIDATES, size)
    nearest = np.argpartition(similarity, size - k, axis=1)[:, size - k:] if k < size else np.tile(np.arange(k), (len(probes), 1))
    candidate_d = np.sqrt(np.clip(2.0 - 2.0 * np.take_along_axis(similarity, nearest, axis=1), 0.0, None))
    return [_decide(d, gallery.owners[idx], gallery.names, tau) for d, idx in zip(candidate_d, nearest)]


def _decide(candidate_d: np.ndarray, candidate_owner: np.ndarray, names, tau: float) -> Identification:
    order = np.argsort(candidate_d)
    best = order[0]
    others = order[candidate_owner[order] != candidate_owner[best]]
    runner_up_name = names[candidate_owner[others[0]]] if len(others) else None
    runner_up_d = float(candidate_d[others[0]]) if len(others) else float("inf")
    best_d, best_name = float(candidate_d[best]), names[candidate_owner[best]]
    recognized = best_d <= tau
    return Identification(best_name if recognized else None, best_name, best_d, runner_up_name, runner_up_d, recognized)
