"""Fitting the pair classifier of engine/pair_classifier.py: L2-penalised logistic regression on pair features."""
from __future__ import annotations

import numpy as np

from ..pair_classifier import PairClassifier, sigmoid, pair_features

L2_GRID = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def fit_pair_classifier(f1: np.ndarray, f2: np.ndarray, same: np.ndarray, features: str = "abs",
                        encoder_id: str = "", l2: float | None = None) -> PairClassifier:
    """Logistic regression on the pairs' features, with an L2 penalty on the weights.

    129 parameters on a couple of thousand pairs overfit without a penalty (100 % on LFW DevTrain, worse than
    the distance rule on DevTest); with l2=None its strength is chosen by 5-fold cross-validation on these pairs.
    """
    x, y = pair_features(f1, f2, features), np.asarray(same, np.float64)
    if l2 is None:
        l2 = max(L2_GRID, key=lambda value: _cross_validated_accuracy(x, y, value))
    weights, bias = _logistic_regression(x, y, l2)
    return PairClassifier(weights, bias, features, encoder_id)


def _cross_validated_accuracy(x: np.ndarray, y: np.ndarray, l2: float, folds: int = 5) -> float:
    fold = np.random.default_rng(0).permutation(len(y)) % folds
    correct = 0
    for k in range(folds):
        weights, bias = _logistic_regression(x[fold != k], y[fold != k], l2)
        correct += np.sum(((x[fold == k] @ weights + bias) >= 0) == (y[fold == k] > 0.5))
    return correct / len(y)


def _logistic_regression(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Newton's method on standardised features (well conditioned, deterministic, a few iterations); the
    scaling is folded back into the returned weights and bias."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-12
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(100):
        p = sigmoid(z @ w)
        gradient = z.T @ (p - y) / len(y) + penalty * w
        hessian = (z * (p * (1 - p))[:, None]).T @ z / len(y) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1] / std, float(w[-1] - np.sum(w[:-1] * mean / std))
