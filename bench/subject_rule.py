"""Which face of a photo is its subject? The rule of engine.pipeline.subject_index measured on LFW View-1.

Every face of every DevTrain and DevTest image is embedded once (cached in bench/out/); then each value of
the centrality weight c (score = box area - c * squared distance of the box centre from the image centre)
picks one face per image, and the verification accuracy follows (tau of best accuracy on DevTrain, accuracy on
DevTest). c is chosen on DevTrain only; c = 0 is "the largest face", a very large c "the most central face".

    python bench/subject_rule.py --root ../shared/data/faces/lfw-view1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.pipeline import FacePipeline, subject_index  # noqa: E402
from engine.training.calibration import accuracy, best_accuracy_threshold  # noqa: E402
from engine.training.pairs import read_pairs  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 1e6)


def all_faces(paths: list[Path], encoder: str) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """image path -> (boxes (F, 4), embeddings (F, D), image height and width), cached per encoder."""
    cache = OUT / f"subject_rule_faces_{encoder.replace('+', '-')}.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=True)["faces"].item()
        if set(map(str, paths)) <= set(stored):
            return stored
    pipeline = FacePipeline(RecognitionSettings(encoder=encoder))
    faces, bar = {}, ProgressBar(len(paths), "embedding every face")
    for done, path in enumerate(paths, 1):
        image = load_image(path)
        observed = pipeline.observe(image)
        faces[str(path)] = (np.array([f.box for f in observed]).reshape(-1, 4),
                            np.array([f.embedding for f in observed]), image.shape[:2])
        bar.update(done)
    bar.close()
    OUT.mkdir(exist_ok=True)
    np.savez(cache, faces=np.array(faces, dtype=object))
    return faces


def pick(faces, weight: float) -> dict[str, np.ndarray]:
    """The embedding each image's subject gets under this centrality weight (NaN without a face)."""
    chosen = {}
    for path, (boxes, embeddings, shape) in faces.items():
        chosen[path] = embeddings[subject_index(boxes, shape, weight)] if len(boxes) else np.nan
    return chosen


def distances(pairs, chosen) -> tuple[np.ndarray, np.ndarray]:
    d = np.array([np.linalg.norm(chosen[str(p.first)] - chosen[str(p.second)]) for p in pairs])
    return np.nan_to_num(d, nan=np.inf), np.array([p.same for p in pairs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="LFW View-1 folder (pairsDev*.txt and images/)")
    parser.add_argument("--encoder", default="dlib", help="the encoder the rule was chosen with (README's table)")
    args = parser.parse_args()
    images = args.root / "images"
    train = read_pairs(args.root / "pairsDevTrain.txt", images)
    test = read_pairs(args.root / "pairsDevTest.txt", images)
    paths = sorted({p for pair in train + test for p in (pair.first, pair.second)})
    faces = all_faces(paths, args.encoder)
    several = sum(len(boxes) > 1 for boxes, _, _ in faces.values())
    print(f"{len(faces)} images, {several} with several faces")
    largest = pick(faces, 0.0)
    print("| c | picks other than the largest | DevTrain accuracy | tau | DevTest accuracy |")
    print("|---|---|---|---|---|")
    for weight in WEIGHTS:
        chosen = pick(faces, weight)
        changed = sum(not np.array_equal(chosen[p], largest[p], equal_nan=True) for p in chosen)
        d, same = distances(train, chosen)
        tau = best_accuracy_threshold(d[same], d[~same])
        test_d, test_same = distances(test, chosen)
        print(f"| {weight:g} | {changed} | {100 * accuracy(d[same], d[~same], tau):.2f} % | {tau:.4f} | "
              f"{100 * accuracy(test_d[test_same], test_d[~test_same], tau):.2f} % |")


if __name__ == "__main__":
    main()
