"""Matching embeddings: distances, verify 1:1 (d <= tau), identify 1:K open set.

Embeddings are unit vectors, so ||q - g||^2 = 2 - 2 q.g and all distances against the gallery come
from one matrix product. A person is represented either by the re-normalised mean of their stored
embeddings ("mean", the default) or by their closest stored embedding ("best"). On LFW the mean recognises
more people than the closest shot at the same rate of strangers accepted (bench/gallery_rule.py, numbers in
README.md), so it is the default of both verify and identify.

The decision is d <= tau, or, given a learned pair classifier (engine/training/pair_classifier.py),
P(same person) >= 0.5 for the probe and the closest reference; the closest person is found by distance either way.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import BadInput

RULES = ("mean", "best")
DEFAULT_RULE = "mean"
CANDIDATES = 64  # nearest rows examined per probe to find the best and the runner-up person


@dataclass(frozen=True)
class GalleryMatrix:
    """All stored embeddings of one encoder: row i belongs to person names[owners[i]]."""

    embeddings: np.ndarray  # (M, 128) float32 unit vectors
    owners: np.ndarray  # (M,) int index into names
    names: tuple[str, ...]

    @cached_property
    def per_person_means(self) -> "GalleryMatrix":
        """One row per person who has embeddings: the re-normalised mean of them (computed once per matrix)."""
        if len(self.embeddings) == 0:
            return self
        embeddings, owners = self.embeddings, self.owners
        if np.any(owners[1:] < owners[:-1]):  # Gallery.matrix() groups rows by person: no sort, no copy
            order = np.argsort(owners, kind="stable")
            embeddings, owners = embeddings[order], owners[order]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        sums = np.add.reduceat(embeddings, starts, axis=0)
        means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        return GalleryMatrix(means.astype(np.float32), owners[starts], self.names)


@dataclass(frozen=True)
class Verification:
    same: bool  # distance <= tau, or probability >= 0.5 with a pair classifier
    distance: float
    tau: float
    probability: float | None = None  # P(same person) from the pair classifier, when one decides

    def evidence(self) -> str:
        """What the decision rests on, in words: the distance against tau, or the classifier's probability."""
        if self.probability is not None:
            sign = "≥" if self.same else "<"
            return f"P(same person) {self.probability:.3f} {sign} 0.5 (distance {self.distance:.3f})"
        sign = "≤" if self.same else ">"
        return f"distance {self.distance:.3f} {sign} τ {self.tau:.3f}"


@dataclass(frozen=True)
class Identification:
    name: str | None  # None when not recognized
    best_name: str | None  # the closest person, recognized or not (None only for an empty gallery)
    distance: float  # to best_name (inf for an empty gallery)
    runner_up_name: str | None  # the closest *other* person
    runner_up_distance: float  # inf when there is nobody else
    recognized: bool  # distance <= threshold, or probability >= 0.5 with a pair classifier
    probability: float | None = None  # P(same person) for best_name, when a pair classifier decides
    threshold: float = float("nan")  # the distance threshold used (identify's tau: engine.operating's 1:K point)

    @property
    def margin(self) -> float:
        """How much farther the runner-up is than the best match (inf with a one-person gallery)."""
        return self.runner_up_distance - self.distance


def distances(queries: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(n, M) Euclidean distances between unit vectors queries (n, 128) and matrix (M, 128), by one matrix product."""
    queries, matrix = _float32_rows(queries), _float32_rows(matrix)
    return np.sqrt(np.clip(2.0 - 2.0 * (queries @ matrix.T), 0.0, None))


def mean_embedding(embeddings: np.ndarray) -> np.ndarray:
    """The re-normalised mean (128,) of unit vectors (k, 128)."""
    mean = np.asarray(embeddings, np.float64).mean(axis=0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)


def verify(probe: np.ndarray, enrolled: np.ndarray, tau: float, rule: str = DEFAULT_RULE,
           classifier=None) -> Verification:
    """Is `probe` (128,) the person whose embeddings are `enrolled` (k, 128)? Same when the distance <= tau,
    or with `classifier` (a PairClassifier) when P(same) >= 0.5.

    rule "mean": compare with their re-normalised mean embedding; "best": with their closest embedding.
    """
    enrolled = _float32_rows(enrolled)
    if len(enrolled) == 0:
        raise BadInput("Nobody to verify against: the person has no enrolled embeddings.")
    references = mean_embedding(enrolled)[None] if _checked_rule(rule) == "mean" else enrolled
    probe = np.asarray(probe, np.float32).reshape(1, -1)
    gaps = np.linalg.norm(references - probe, axis=1)
    closest, distance = references[gaps.argmin()], float(gaps.min())
    if classifier is None:
        return Verification(distance <= tau, distance, tau)
    probability = float(classifier.probability(probe[0], closest))
    return Verification(probability >= 0.5, distance, tau, probability)


def identify(probes: np.ndarray, gallery: GalleryMatrix, tau: float, rule: str = DEFAULT_RULE,
             classifier=None) -> list[Identification]:
    """Open-set 1:K: for each probe (n, 128) the closest person, the closest other person, and whether d <= tau.
    tau is the identification threshold (engine.operating.identify_point), tighter than verify's 1:1 tau.

    rule "mean" compares with each person's mean embedding, "best" with their closest stored one.
    Cost: one (n, 128) x (128, M) product and a partial sort of each row; no loop over people.
    With `classifier` (a PairClassifier) the closest person is recognised when P(same) >= 0.5 instead.
    Returns one Identification per probe.
    """
    probes = _float32_rows(probes)
    if _checked_rule(rule) == "mean":
        gallery = gallery.per_person_means
    if len(gallery.embeddings) == 0:
        return [Identification(None, None, float("inf"), None, float("inf"), False, threshold=tau) for _ in probes]
    similarity = probes @ gallery.embeddings.T  # the nearest have the largest dot product: no sqrt over all M
    nearest = _nearest_rows(similarity, CANDIDATES)
    return [_decide(probe, row, candidates, gallery, tau, classifier)
            for probe, row, candidates in zip(probes, similarity, nearest)]


def _nearest_rows(similarity: np.ndarray, k: int) -> list[np.ndarray]:
    """Per probe, the row indices of its k largest similarities (more on ties), nearest first.

    np.partition finds each row's k-th largest value without a full sort (and without argpartition's
    index array, which costs more at M = 1e6); one comparison then picks the rows at or above it.
    """
    size = similarity.shape[1]
    if size <= k:
        return [np.argsort(-row, kind="stable") for row in similarity]
    kth_largest = np.partition(similarity, size - k, axis=1)[:, size - k]
    nearest = []
    for row, threshold in zip(similarity, kth_largest):
        top = np.flatnonzero(row >= threshold)
        nearest.append(top[np.argsort(-row[top], kind="stable")])
    return nearest


def _decide(probe, similarity, candidates, gallery: GalleryMatrix, tau: float, classifier) -> Identification:
    best_row = candidates[0]
    best_owner = gallery.owners[best_row]
    runner_up_row = _runner_up_row(similarity, candidates, gallery.owners, best_owner)
    best_d = _distance(probe, gallery.embeddings[best_row])
    best_name = gallery.names[best_owner]
    probability = None if classifier is None else float(classifier.probability(probe, gallery.embeddings[best_row]))
    recognized = best_d <= tau if probability is None else probability >= 0.5
    if runner_up_row is None:
        runner_up_name, runner_up_d = None, float("inf")
    else:
        runner_up_name = gallery.names[gallery.owners[runner_up_row]]
        runner_up_d = _distance(probe, gallery.embeddings[runner_up_row])
    return Identification(best_name if recognized else None, best_name, best_d, runner_up_name, runner_up_d, recognized,
                          probability, tau)


def _runner_up_row(similarity, candidates, owners, best_owner) -> int | None:
    """The nearest row of another person than the best one, or None when every row is the best person's."""
    others = candidates[owners[candidates] != best_owner]
    if len(others):
        return int(others[0])
    # Every candidate is the best person's (they have >= CANDIDATES close shots): search all rows once.
    masked = np.where(owners == best_owner, -np.inf, similarity)
    row = int(masked.argmax())
    return None if masked[row] == -np.inf else row


def _distance(probe: np.ndarray, row: np.ndarray) -> float:
    """Exact ||probe - row||: the matrix product form loses precision for near-identical vectors."""
    return float(np.linalg.norm(probe.astype(np.float64) - row))


def _float32_rows(vectors: np.ndarray) -> np.ndarray:
    """As float32 (n, d): a float64 probe would otherwise turn the whole gallery product into float64."""
    vectors = np.asarray(vectors, np.float32)
    return vectors[None] if vectors.ndim == 1 else vectors


def _checked_rule(rule: str) -> str:
    if rule not in RULES:
        raise BadInput(f"The matching rule must be one of {', '.join(RULES)}, not {rule!r}.")
    return rule
