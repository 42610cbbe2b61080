"""Triplet loss (FaceNet) with online mining inside P x K batches.

L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0) and J = sum of L over the batch's triplets.
Triplets are chosen from the embeddings of the current batch (P people, K shots each):
  batch-hard  each anchor with its farthest positive and its nearest negative (Hermans et al. 2017);
  semi-hard   every anchor-positive pair with the nearest negative that is still farther than the positive,
              d(a,p) < d(a,n) (FaceNet, Schroff et al. 2015; those within alpha are the ones that teach);
  random      each anchor with a random positive and a random negative (the baseline that shows why mining matters).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MINING = ("batch-hard", "semi-hard", "random")


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, B) squared Euclidean distances, clamped at 0 against rounding."""
    norms = (embeddings * embeddings).sum(dim=1)
    return (norms[:, None] + norms[None, :] - 2 * embeddings @ embeddings.T).clamp_min(0)


def triplet_losses(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """Per-triplet L = max(||a - p||^2 - ||a - n||^2 + margin, 0); rows are triplets."""
    d_ap = ((anchor - positive) ** 2).sum(dim=1)
    d_an = ((anchor - negative) ** 2).sum(dim=1)
    return (d_ap - d_an + margin).clamp_min(0)


@dataclass(frozen=True)
class Triplets:
    anchor: torch.Tensor  # (T,) indices into the batch
    positive: torch.Tensor
    negative: torch.Tensor

    def __len__(self) -> int:
        return len(self.anchor)


def _masks(labels: torch.Tensor):
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positive, ~same


def batch_hard_triplets(d2: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """One triplet per anchor that has a positive and a negative: its farthest positive, its nearest negative."""
    positive, negative = _masks(labels)
    anchors = torch.nonzero(positive.any(dim=1) & negative.any(dim=1)).flatten()
    d = d2[anchors]
    hardest_positive = torch.where(positive[anchors], d, -torch.inf).argmax(dim=1)
    hardest_negative = torch.where(negative[anchors], d, torch.inf).argmin(dim=1)
    return Triplets(anchors, hardest_positive, hardest_negative)


def semi_hard_triplets(d2: torch.Tensor, labels: torch.Tensor) -> Triplets:
    """One triplet per anchor-positive pair: the nearest negative with d(a,n) > d(a,p).

    Where every negative is nearer than the positive, the farthest negative is taken instead (as TensorFlow's
    semi-hard loss does): the hardest one would pull the embedding towards collapse, which is what FaceNet avoids.
    """
    positive, negative = _masks(labels)
    has_negative = negative.any(dim=1)
    anchor, pos = torch.nonzero(positive & has_negative[:, None], as_tuple=True)
    d_an = d2[anchor]  # (T, B)
    d_ap = d2[anchor, pos]
    is_negative = negative[anchor]
    farther = is_negative & (d_an > d_ap[:, None])
    nearest_farther = torch.where(farther, d_an, torch.inf).argmin(dim=1)
    farthest = torch.where(is_negative, d_an, -torch.inf).argmax(dim=1)
    chosen = torch.where(farther.any(dim=1), nearest_farther, farthest)
    return Triplets(anchor, pos, chosen)


def random_triplets(labels: torch.Tensor, generator: torch.Generator | None = None) -> Triplets:
    """One triplet per anchor that has a positive and a negative, both drawn uniformly."""
    positive, negative = _masks(labels)
    anchors = torch.nonzero(positive.any(dim=1) & negative.any(dim=1)).flatten()

    def draw(mask):
        weights = mask[anchors].float().cpu()  # drawn on the CPU, where the generator lives
        return torch.multinomial(weights, 1, generator=generator).flatten().to(labels.device)

    return Triplets(anchors, draw(positive), draw(negative))


def mine(embeddings: torch.Tensor, labels: torch.Tensor, mining: str, generator=None) -> Triplets:
    """Triplet indices chosen from the batch; the choice itself is not differentiated."""
    if mining not in MINING:
        raise ValueError(f"mining must be one of {', '.join(MINING)}, not {mining!r}")
    if mining == "random":
        return random_triplets(labels, generator)
    with torch.no_grad():
        d2 = squared_distances(embeddings.detach())
    return batch_hard_triplets(d2, labels) if mining == "batch-hard" else semi_hard_triplets(d2, labels)


@dataclass(frozen=True)
class BatchLoss:
    total: torch.Tensor  # J, differentiable
    triplets: int
    active: int  # triplets with L > 0: the only ones that move the weights

    @property
    def mean(self) -> float:
        return float(self.total.detach()) / max(self.triplets, 1)

    @property
    def active_fraction(self) -> float:
        return self.active / max(self.triplets, 1)


def batch_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float, mining: str,
                       generator=None) -> BatchLoss:
    """J = sum of L over the triplets mined from this batch of (normalised) embeddings."""
    triplets = mine(embeddings, labels, mining, generator)
    losses = triplet_losses(embeddings[triplets.anchor], embeddings[triplets.positive],
                            embeddings[triplets.negative], margin)
    return BatchLoss(losses.sum(), len(triplets), int((losses > 0).sum()))


def pk_batches(labels: np.ndarray, people: int, shots: int, batches: int, rng: np.random.Generator):
    """Index arrays of P people x up to K shots each; only people with at least two shots are drawn."""
    by_person = [np.flatnonzero(labels == p) for p in np.unique(labels)]
    eligible = [shots_of for shots_of in by_person if len(shots_of) >= 2]
    if len(eligible) < 2:
        raise ValueError("Triplets need at least two people with two or more photos each.")
    for _ in range(batches):
        chosen = rng.choice(len(eligible), size=min(people, len(eligible)), replace=False)
        yield np.concatenate([rng.choice(eligible[c], size=min(shots, len(eligible[c])), replace=False) for c in chosen])
