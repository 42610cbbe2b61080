"""LFW verification accuracy of the full pipeline (our detection, alignment and encoder).

View 1 (model selection): tau chosen on --train, accuracy measured on --pairs:
    python bench/lfw.py --root ../shared/data/faces/lfw-view1 \
        --train ../shared/data/faces/lfw-view1/pairsDevTrain.txt --pairs ../shared/data/faces/lfw-view1/pairsDevTest.txt
View 2 (pairs.txt with 10 folds): the standard 10-fold accuracy, mean +- std:
    python bench/lfw.py --root LFW_DIR --pairs LFW_DIR/pairs.txt

--root is the folder holding images/<Name>/<Name>_NNNN.jpg (or the Name folders directly).
Also prints TAR at FAR 1e-3 and the AUC on the test pairs, and writes the ROC to bench/out/lfw_roc.png.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings  # noqa: E402
from engine.errors import LikenessError  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.pipeline import FacePipeline, subject_index  # noqa: E402
from engine.training.calibration import (  # noqa: E402
    SHIPPED_CALIBRATION, Calibration, accuracy, best_accuracy_threshold, roc, tar_at_far,
)
from engine.training.pairs import read_pairs  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def embed_images(pipeline: FacePipeline, paths: list[Path], flip: bool) -> dict[Path, np.ndarray]:
    """Embedding of each image's subject (the rule of `main.py embed`); NaN where no face is found (such pairs
    count as errors)."""
    embeddings, bar = {}, ProgressBar(len(paths), "embedding")
    for done, path in enumerate(paths, 1):
        image = load_image(path)
        faces = pipeline.observe(image)
        embeddings[path] = np.full(pipeline.encoder.EMBEDDING_SIZE, np.nan, np.float32)
        if faces:
            face = faces[subject_index([f.box for f in faces], image.shape)]
            embeddings[path] = flip_averaged(pipeline, face.chip) if flip else face.embedding
        if done % 20 == 0 or done == len(paths):
            bar.update(done)
    bar.close()
    return embeddings


def flip_averaged(pipeline: FacePipeline, chip: np.ndarray) -> np.ndarray:
    both = pipeline.encoder.encode(np.stack([chip, chip[:, ::-1]]))
    mean = both.mean(axis=0)
    return mean / np.linalg.norm(mean)


def pair_distances(pairs, embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Distances and same-person labels; a pair with a missing face gets distance inf (an error if genuine)."""
    d = np.array([np.linalg.norm(embeddings[p.first] - embeddings[p.second]) for p in pairs])
    return np.nan_to_num(d, nan=np.inf), np.array([p.same for p in pairs])


def report_test(distances, same, tau) -> None:
    genuine, impostor = distances[same], distances[~same]
    curve = roc(genuine, impostor)
    print(f"accuracy {100 * accuracy(genuine, impostor, tau):.2f} % at tau={tau:.4f}")
    print(f"TAR {100 * tar_at_far(genuine, impostor, 1e-3):.2f} % at FAR 1e-3 ({len(impostor)} impostor pairs); "
          f"AUC {curve.auc:.5f}")
    plot_roc(curve)


def plot_roc(curve) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    OUT.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogx(np.maximum(curve.far, 1e-4), curve.tar)
    ax.set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View-1 DevTest ROC", ylim=(0.8, 1.001))
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(OUT / "lfw_roc.png", dpi=120, bbox_inches="tight")


def shipped_calibration_path(encoder: str) -> Path:
    """lfw_devtrain.npz for dlib (the first shipped encoder), lfw_devtrain_<name>.npz for the others."""
    suffix = "" if encoder in ("", "dlib") else "_" + encoder.replace("+", "-")
    return SHIPPED_CALIBRATION.with_name(f"lfw_devtrain{suffix}.npz")


def save_calibration(train, embeddings, encoder_id, path: Path) -> None:
    paths = sorted({p for pair in train for p in (pair.first, pair.second) if not np.isnan(embeddings[p][0])})
    labels = np.array([p.parent.name for p in paths])
    calibration = Calibration.from_embeddings(
        np.stack([embeddings[p] for p in paths]), labels, encoder_id,
        f"LFW View-1 DevTrain: all pairs of its {len(paths)} images",
    )
    calibration.save(path)
    print(f"calibration: {calibration.genuine.sum()} genuine and {calibration.impostor.sum()} impostor pairs; presets "
          + ", ".join(f"{name} tau={tau:.3f} (FAR {calibration.far(tau):.1e})"
                      for name, tau in calibration.presets().items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--pairs", type=Path, required=True, help="test pairs (View 1) or pairs.txt (View 2)")
    parser.add_argument("--train", type=Path, help="View 1 training pairs: tau is chosen on them")
    parser.add_argument("--encoder", default=RecognitionSettings().encoder,
                        help="dlib+facenet, dlib, facenet or a trained .onnx (default: the default setting)")
    parser.add_argument("--flip", action="store_true", help="average each embedding with its mirror image's (dlib)")
    parser.add_argument("--limit", type=int, help="only the first N pairs of each file (a quick look)")
    parser.add_argument("--save-calibration", action="store_true",
                        help="write the distance histograms of all pairs of --train's images to "
                             "resources/calibration/lfw_devtrain[_ENCODER].npz")
    args = parser.parse_args()
    images = args.root / "images" if (args.root / "images").is_dir() else args.root

    test = read_pairs(args.pairs, images)[: args.limit]
    train = read_pairs(args.train, images)[: args.limit] if args.train else []
    paths = sorted({p for pair in train + test for p in (pair.first, pair.second)})
    pipeline = FacePipeline(RecognitionSettings(encoder=args.encoder))
    if args.flip and not hasattr(pipeline.encoder, "encode"):
        sys.exit("error: --flip averages dlib's chips: use it with --encoder dlib")
    print(f"{len(paths)} images, encoder {pipeline.encoder.id} on {pipeline.encoder.provider}", file=sys.stderr)
    try:
        embeddings = embed_images(pipeline, paths, args.flip)
    except LikenessError as error:
        sys.exit(f"error: {error}")
    missing = sum(np.isnan(e[0]) for e in embeddings.values())
    print(f"images without a face: {missing} of {len(paths)}")

    distances, same = pair_distances(test, embeddings)
    if train:
        train_d, train_same = pair_distances(train, embeddings)
        tau = best_accuracy_threshold(train_d[train_same], train_d[~train_same])
        print(f"tau chosen on {args.train.name}: {tau:.4f} (train accuracy "
              f"{100 * accuracy(train_d[train_same], train_d[~train_same], tau):.2f} %)")
        report_test(distances, same, tau)
        oracle = best_accuracy_threshold(distances[same], distances[~same])
        print(f"ceiling: {100 * accuracy(distances[same], distances[~same], oracle):.2f} % at the test pairs' own best "
              f"tau={oracle:.4f} (for information: no threshold chosen without the test pairs can beat it)")
        default = RecognitionSettings().tau
        print(f"accuracy {100 * accuracy(distances[same], distances[~same], default):.2f} % at the default tau={default}")
        if args.save_calibration:
            save_calibration(train, embeddings, pipeline.encoder.id, shipped_calibration_path(args.encoder))
    else:
        folds = np.array([p.fold for p in test])
        scores = []
        for fold in np.unique(folds):
            fit = folds != fold
            tau = best_accuracy_threshold(distances[fit & same], distances[fit & ~same])
            scores.append(accuracy(distances[~fit & same], distances[~fit & ~same], tau))
        print(f"{len(scores)}-fold accuracy {100 * np.mean(scores):.2f} +- {100 * np.std(scores):.2f} %")
        report_test(distances, same, best_accuracy_threshold(distances[same], distances[~same]))


if __name__ == "__main__":
    main()
