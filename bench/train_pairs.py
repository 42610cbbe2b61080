"""Proof (3): the learned pair classifier (logistic unit on |f1-f2| or chi-square features) against the plain
distance rule d <= tau, on LFW View-1: both fitted on the 2200 DevTrain pairs, measured on the 1000 DevTest pairs.

    python bench/train_pairs.py

Embeddings: the shipped encoder on our chips (cached in bench/out/training). Writes docs/training/pairs_roc.png.
"""
from __future__ import annotations

import numpy as np

from train_common import DOCS, OUT, lfw_faces, pyplot, view1_pairs
from engine.faces.encode import FaceEncoder
from engine.training.calibration import accuracy, best_accuracy_threshold, roc
from engine.training.pair_classifier import fit_pair_classifier


def shipped_embeddings(split: str, faces) -> np.ndarray:
    cache = OUT / f"lfw_dev{split.lower()}_shipped_embeddings.npy"
    if cache.exists():
        return np.load(cache)
    encoder = FaceEncoder(use_gpu=False)
    embeddings = np.concatenate([encoder.encode(faces.chips[i:i + 64]) for i in range(0, len(faces), 64)])
    np.save(cache, embeddings)
    return embeddings


def main() -> None:
    data = {}
    for split in ("Train", "Test"):
        faces = lfw_faces(split)
        first, second, same = view1_pairs(split, faces)
        e = shipped_embeddings(split, faces)
        data[split] = (e[first], e[second], same)
    f1, f2, same = data["Train"]
    t1, t2, test_same = data["Test"]
    d, test_d = np.linalg.norm(f1 - f2, axis=1), np.linalg.norm(t1 - t2, axis=1)
    tau = best_accuracy_threshold(d[same], d[~same])
    rows = [("distance rule d <= tau", np.mean((d <= tau) == same), accuracy(test_d[test_same], test_d[~test_same], tau),
             roc(test_d[test_same], test_d[~test_same]))]
    for features in ("abs", "chi2"):
        classifier = fit_pair_classifier(f1, f2, same, features)
        p = classifier.probability(t1, t2)
        # the ROC of a score: use 1 - P(same) as a "distance"
        rows.append((f"logistic on {features}", np.mean(classifier.same(f1, f2) == same), np.mean((p >= 0.5) == test_same),
                     roc(1 - p[test_same], 1 - p[~test_same])))
    print(f"LFW View-1, shipped encoder; fitted on {len(same)} DevTrain pairs, tested on {len(test_same)} DevTest pairs")
    print(f"{'rule':<26} {'DevTrain':>9} {'DevTest':>9} {'AUC':>8}")
    for name, train_acc, test_acc, curve in rows:
        print(f"{name:<26} {100 * train_acc:8.2f}% {100 * test_acc:8.2f}% {curve.auc:8.5f}")
    print(f"(tau={tau:.4f})")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, _, test_acc, curve in rows:
        ax.semilogx(np.maximum(curve.far, 1e-3), curve.tar, label=f"{name} ({100 * test_acc:.2f} %)")
    ax.set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View-1 DevTest", ylim=(0.8, 1.005))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(DOCS / "pairs_roc.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
