"""SFace on LFW View-1: alone (plain and standardised), fused with dlib, and dlib + FaceNet + SFace.

    python bench/fusion_sface.py [--root ../shared/data/faces/lfw-view1] [--compare-models FLOAT.onnx ...]
        [--save-calibration] [--report PATH] [--three-way]
    python bench/fusion_sface.py --speed       # ms per face of dlib, SFace and the two fused

Same protocol as bench/fusion.py (whose helpers it uses): everything is fitted on DevTrain pairs and images only
(thresholds, SFace's per-dimension mean/std, the fusion weight w = b^2 by people-split cross-validation on
DevTrain pairs), DevTest pairs give the figures, the all-pairs columns use every pair of the DevTest images.
Both encoders see the same detection: the pipeline's subject face; dlib its chip, SFace its ArcFace chip from
the same 5 landmarks. Embeddings are cached in bench/out/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine.config import RecognitionSettings  # noqa: E402
from engine.faces.facenet import FaceNetEncoder  # noqa: E402
from engine.faces.fusion import CALIBRATION_DIR  # noqa: E402
from engine.faces.sface import SFaceEncoder  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.pipeline import FacePipeline  # noqa: E402
from fusion import (  # noqa: E402
    OUT, WEIGHTS, best_weight, cv_accuracy, facenet_embeddings, fused_vectors, pair_distances, squared_fusion,
    subject_faces, table, unit, view1,
)

CALIBRATION = CALIBRATION_DIR / "fusion_sface_dlib.npz"


def sface_embeddings(encoder: SFaceEncoder, paths: list[Path]) -> np.ndarray:
    """(N, 128) unit SFace embeddings of each image's subject (the pipeline's rule); NaN rows where no face."""
    cache = OUT / f"fusion_sface_{encoder.id.split(':')[-1]}_{len(paths)}.npy"
    if cache.exists():
        return np.load(cache)
    pipeline = FacePipeline(RecognitionSettings(use_gpu=False), encoder=encoder)
    result = np.full((len(paths), 128), np.nan, np.float32)
    for i, face in enumerate(subject_faces(pipeline, paths, f"SFace {encoder.id}")):
        if face is not None:
            result[i] = face.embedding
    OUT.mkdir(exist_ok=True)
    np.save(cache, result)
    return result


def three_way(dlib, facenet, sface, ev, splits) -> tuple[tuple[float, float], float]:
    """dlib + FaceNet + SFace: the shares (FaceNet's, SFace's) of best DevTrain CV accuracy on a 0.05 grid."""
    d = [pair_distances(e, ev.train_pairs) for e in (dlib, facenet, sface)]
    best, best_cv = (0.0, 0.0), -1.0
    for wf in np.arange(0, 1.0001, 0.05):
        for ws in np.arange(0, 1.0001 - wf, 0.05):
            fused = np.sqrt((1 - wf - ws) * d[0] ** 2 + wf * d[1] ** 2 + ws * d[2] ** 2)
            cv = cv_accuracy(fused, ev.train_same, splits)
            if cv > best_cv + 1e-12:
                best, best_cv = (float(wf), float(ws)), cv
    return best, best_cv


def encoder_files(fused: np.ndarray, sface: np.ndarray, paths: list[Path], ev) -> list[str]:
    """The shipped calibrations (τ presets, FAR/FRR curves) of dlib+sface and sface, from every pair of DevTrain's
    images, and dlib+sface's pair classifier, fitted on DevTrain's pairs (its DevTest accuracy reported)."""
    from engine.faces.encoders import encoder_id
    from engine.training.calibration import SHIPPED_CALIBRATION, Calibration
    from engine.training.pair_classifier import fit_pair_classifier

    lines = []
    train_images = np.array([i for i in np.unique(ev.train_pairs) if not np.isnan(fused[i, 0])])
    labels = np.array([paths[i].parent.name for i in train_images])
    for name, vectors in (("dlib+sface", fused), ("sface", sface)):
        calibration = Calibration.from_embeddings(vectors[train_images], labels, encoder_id(name),
                                                  f"LFW View-1 DevTrain: all pairs of its {len(train_images)} images")
        file = SHIPPED_CALIBRATION.with_name(f"lfw_devtrain_{name.replace('+', '-')}.npz")
        calibration.save(file)
        lines.append(f"Saved {file.name}: presets " + ", ".join(
            f"{preset} τ {tau:.3f} (FAR {calibration.far(tau):.1e})" for preset, tau in calibration.presets().items()))
    usable = ~np.isnan(fused[ev.train_pairs]).any(axis=(1, 2))
    pairs, same = ev.train_pairs[usable], ev.train_same[usable]
    classifier = fit_pair_classifier(fused[pairs[:, 0]], fused[pairs[:, 1]], same, "abs", encoder_id("dlib+sface"))
    test = ev.test_pairs
    found = ~np.isnan(fused[test]).any(axis=(1, 2))
    decided = np.zeros(len(test), bool)
    decided[found] = classifier.same(fused[test[found, 0]], fused[test[found, 1]])
    file = CALIBRATION_DIR / "pair_classifier_lfw_dlib-sface.npz"
    classifier.save(file)
    lines.append(f"Saved {file.name}: DevTest accuracy {100 * np.mean(decided == ev.test_same):.2f} % "
                 f"(a pair with an image without a face counts as an error).")
    return lines


def speed(paths: list[Path]) -> str:
    """Median ms per face of dlib, SFace, FaceNet (one thread each) and the two fusions (both models at once), on
    real faces, in one run: the machine's load moves every row alike."""
    import time

    from engine.faces.encode import FaceEncoder
    from engine.faces.fusion import FusedEncoder

    pipeline = FacePipeline(RecognitionSettings(use_gpu=False, encoder="dlib"))
    faces = []
    for path in paths[:8]:
        image = load_image(path)
        detections = pipeline.detector.detect(image)[:1]
        faces.append((image, detections, pipeline.observe(image)[0].chip[None]))
    encoders = (("dlib, 1 thread", FaceEncoder(use_gpu=False, intra_op_threads=1)),
                ("SFace INT8, 1 thread", SFaceEncoder(use_gpu=False, intra_op_threads=1)),
                ("FaceNet, 1 thread", FaceNetEncoder(use_gpu=False, intra_op_threads=1)),
                ("dlib + SFace, both at once", FusedEncoder("dlib+sface", use_gpu=False)),
                ("dlib + FaceNet (the earlier default), both at once", FusedEncoder("dlib+facenet", use_gpu=False)))
    lines = ["| encoder | ms per face (median of 30 rounds over 8 faces, batch 1) |", "|---|---|"]
    for name, encoder in encoders:
        rounds = []
        for _ in range(31):
            start = time.perf_counter()
            for image, detections, chip in faces:
                encoder.encode_faces(image, detections, chip)
            rounds.append((time.perf_counter() - start) / len(faces))
        lines.append(f"| {name} | {1000 * float(np.median(rounds[1:])):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces/lfw-view1")
    parser.add_argument("--compare-models", type=Path, nargs="*", default=[], help="other SFace files (e.g. float32)")
    parser.add_argument("--save-calibration", action="store_true", help=f"write {CALIBRATION.name}")
    parser.add_argument("--three-way", action="store_true", help="also dlib + FaceNet + SFace (FaceNet's embeddings too)")
    parser.add_argument("--report", type=Path, default=OUT / "fusion_sface_report.md")
    parser.add_argument("--speed", action="store_true", help="only time the encoders per face")
    args = parser.parse_args()
    if args.speed:
        return print(speed(sorted((args.root / "images").glob("*/*.jpg"))))

    paths, train, test, splits, dlib, ev = view1(args.root)
    train_images = np.unique(ev.train_pairs)

    def standardiser(embeddings):
        usable = embeddings[train_images][~np.isnan(embeddings[train_images, 0])]
        mean, std = usable.mean(0), usable.std(0)
        return unit((embeddings - mean) / std), mean, std

    dlib_unit = dlib["plain"]
    reference = ev.vectors(dlib_unit)
    ev.reference_errors = (pair_distances(dlib_unit, ev.test_pairs) <= reference["tau"]) != ev.test_same
    rows, fitted, report_three = [("dlib", reference)], {}, ""
    shipped = SFaceEncoder(use_gpu=False, intra_op_threads=1)
    for encoder in [shipped, *(SFaceEncoder(f, use_gpu=False, intra_op_threads=1) for f in args.compare_models)]:
        plain = sface_embeddings(encoder, paths)
        standardised, mean, std = standardiser(plain)
        if encoder is shipped:
            plain_shipped, standardised_shipped = plain, standardised
        label = encoder.id
        for form, vectors in (("plain", plain), ("std", standardised)):
            rows.append((f"SFace {form} ({label})", ev.vectors(vectors)))
            d1, d2 = pair_distances(dlib_unit, ev.train_pairs), pair_distances(vectors, ev.train_pairs)
            w, curve = best_weight(lambda w: squared_fusion(d1, d2, w), ev.train_same, splits)
            fitted[(label, form)] = dict(w=w, cv=curve.max(), curve=curve, mean=mean, std=std,
                                         tau=ev.vectors(fused_vectors(dlib_unit, vectors, w))["tau"])
            rows.append((f"dlib ⊕ SFace {form} ({label}), w={w:.3f}", ev.vectors(fused_vectors(dlib_unit, vectors, w))))
        if encoder is shipped and args.three_way:
            facenet = standardiser(facenet_embeddings(FaceNetEncoder(use_gpu=False, intra_op_threads=1), paths,
                                                      dlib["boxes"], 0.15, False))[0]
            (wf, ws), cv3 = three_way(dlib_unit, facenet, standardised, ev, splits)
            three = np.concatenate([np.sqrt(1 - wf - ws) * dlib_unit, np.sqrt(wf) * facenet, np.sqrt(ws) * standardised], 1)
            rows.append((f"dlib ⊕ FaceNet std ⊕ SFace std ({label}), shares {wf:.2f}/{ws:.2f}", ev.vectors(three)))
            report_three = f"; three-way: {100 * cv3:.2f} %"
    report = ["# SFace on LFW View-1\n", table(rows), "\nDevTrain CV accuracy (people-split 10-fold x 5) of the fusions "
              "at their chosen w: " + "; ".join(f"{label} {form}: {100 * f['cv']:.2f} % (w {f['w']:.3f})"
                                                 for (label, form), f in fitted.items())
              + report_three + "\n"]
    for (label, form), f in fitted.items():
        report.append(f"CV accuracy against w ({label}, {form}): " + ", ".join(
            f"{w:.2f}: {100 * c:.2f}" for w, c in zip(WEIGHTS, f["curve"]) if round(w * 40) % 4 == 0) + "\n")

    form = max(("plain", "std"), key=lambda k: fitted[(shipped.id, k)]["cv"])
    chosen = fitted[(shipped.id, form)]
    report.append(f"Chosen by DevTrain CV: dlib ⊕ SFace {form}, w = {chosen['w']:.3f}, τ {chosen['tau']:.4f}.\n")
    if args.save_calibration:
        from engine.faces.encode import FaceEncoder

        extra = dict(sface_mean=chosen["mean"].astype(np.float32), sface_std=chosen["std"].astype(np.float32)) \
            if form == "std" else {}
        np.savez(CALIBRATION, dlib_weight=np.float32(np.sqrt(1 - chosen["w"])),
                 sface_weight=np.float32(np.sqrt(chosen["w"])), tau=np.float32(chosen["tau"]),
                 dlib_encoder=FaceEncoder.model_id(), sface_encoder=shipped.id,
                 source=f"LFW View-1 DevTrain: w by people-split 10-fold x 5 CV on its {len(train)} pairs, "
                        f"{'mean/std over its images, ' if extra else ''}tau its best-accuracy threshold", **extra)
        report.append(f"Saved {CALIBRATION.name}.\n")
        fused = fused_vectors(dlib_unit, standardised_shipped if form == "std" else plain_shipped, chosen["w"])
        report += encoder_files(fused, plain_shipped, paths, ev)
    text = "\n".join(report)
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)


if __name__ == "__main__":
    main()
