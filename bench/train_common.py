"""Shared by the bench/train_*.py scripts: the cached chips of LFW View-1 and ORL, and LFW's View-1 protocol.

Chips are cached in bench/out/training/*.npz (built on first use by the app's own detect + align).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings  # noqa: E402
from engine.training.calibration import accuracy, best_accuracy_threshold  # noqa: E402
from engine.training.datasets import FaceSet, cached_face_set, lfw_images_of_pairs, person_folders  # noqa: E402
from engine.training.pairs import read_pairs  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "faces"
LFW = DATA / "lfw-view1"
ORL = DATA / "orl"
OUT = ROOT / "bench" / "out" / "training"
DOCS = ROOT / "docs" / "training"


def _pipeline():
    from engine.pipeline import FacePipeline

    return FacePipeline(RecognitionSettings(use_gpu=False))


def _bar(label):
    bar = ProgressBar(1, label)

    def update(done, total):
        bar.total = total
        if done % 25 == 0 or done == total:
            bar.update(done)
        if done == total:
            bar.close()
    return update


def lfw_faces(split: str) -> FaceSet:
    """Chips of every image of the people in pairsDev<split>.txt (split: "Train" or "Test")."""
    images = lfw_images_of_pairs(LFW, LFW / f"pairsDev{split}.txt")
    return cached_face_set(images, OUT / f"lfw_dev{split.lower()}.npz", _pipeline, _bar(f"LFW Dev{split} chips"))


def orl_faces() -> FaceSet:
    return cached_face_set(person_folders(ORL), OUT / "orl.npz", _pipeline, _bar("ORL chips"))


def view1_pairs(split: str, faces: FaceSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first index, second index, same) of pairsDev<split>.txt into faces (pairs whose face was not found are
    dropped; there are none with our detector)."""
    where = {Path(s).name: i for i, s in enumerate(faces.sources)}
    pairs = [p for p in read_pairs(LFW / f"pairsDev{split}.txt", LFW / "images")
             if p.first.name in where and p.second.name in where]
    return (np.array([where[p.first.name] for p in pairs]), np.array([where[p.second.name] for p in pairs]),
            np.array([p.same for p in pairs]))


def pair_distances(embeddings: np.ndarray, pairs) -> tuple[np.ndarray, np.ndarray]:
    first, second, same = pairs
    d = np.linalg.norm(embeddings[first] - embeddings[second], axis=1)
    return d[same], d[~same]


def view1_accuracy(train_embeddings, train_pairs, test_embeddings, test_pairs) -> tuple[float, float]:
    """LFW View-1: tau of best accuracy on DevTrain pairs, accuracy on DevTest pairs. Returns (accuracy, tau)."""
    tau = best_accuracy_threshold(*pair_distances(train_embeddings, train_pairs))
    return accuracy(*pair_distances(test_embeddings, test_pairs), tau), tau


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    DOCS.mkdir(parents=True, exist_ok=True)
    return plt
