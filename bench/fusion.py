"""dlib ResNet + FaceNet CASIA-WebFace on LFW View-1: each alone, flip-averaged, and fused into one vector.

    python bench/fusion.py [--root ../shared/data/faces/lfw-view1] [--margins 0,0.05,0.1,0.15,0.2,0.3]
        [--compare-models bench/out/facenet_fp16.onnx ...] [--speed] [--save-calibration] [--report PATH]

Everything is fitted on DevTrain pairs and images only (thresholds, FaceNet's per-dimension mean/std, z-scores,
fusion weights, the crop margin, whether to flip); DevTest pairs give the figures. The "ceiling" column is the
accuracy at DevTest's own best threshold, for information only.

Both encoders see the same face: the pipeline's detection of each image's subject (engine.pipeline's
subject_index, as bench/lfw.py). dlib gets the pipeline's aligned chip; FaceNet its box crop
(engine.faces.facenet). Embeddings are cached in bench/out/fusion_*.npy|npz, so reruns take seconds.

The fused vector is concat(a * dlib_unit, b * facenet_std_unit) with a^2 + b^2 = 1: its Euclidean distance d
gives d^2 = a^2 d_dlib^2 + b^2 d_facenet^2 and it has unit length. w = b^2 is chosen by cross-validation on
DevTrain pairs, folds split by people (a pair is held out with fold f when either of its people is in f, and
the threshold is fitted on the pairs touching no person of f), repeated over 5 random splits. The issue's
linear fusion, (1 - w) z(d_dlib) + w z(d_facenet) with z-scores of DevTrain pair distances, is fitted the same
way for comparison.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.cli.progress import ProgressBar  # noqa: E402
from engine.config import RecognitionSettings  # noqa: E402
from engine.faces.facenet import MARGIN, MODEL_FILE, FaceNetEncoder, facenet_crops  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.pipeline import FacePipeline, subject_index  # noqa: E402
from engine.runtime import model_path  # noqa: E402
from engine.training.calibration import accuracy, best_accuracy_threshold, tar_at_far  # noqa: E402
from engine.training.pairs import read_pairs  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
CALIBRATION = Path(__file__).resolve().parent.parent / "resources" / "calibration" / "fusion_facenet_dlib.npz"
MISSING = 4.0  # distance given to a pair with an image without a face (unit vectors are at most 2 apart)
WEIGHTS = np.round(np.arange(0, 1.0001, 0.025), 3)  # candidate w = b^2, FaceNet's share


# ---------------------------------------------------------------- embeddings (cached)

def subject_faces(pipeline: FacePipeline, paths: list[Path], label: str):
    """Each image's subject face as the pipeline sees it (None where it finds no face), with a progress bar."""
    bar = ProgressBar(len(paths), label)
    for i, path in enumerate(paths):
        image = load_image(path)
        faces = pipeline.observe(image)
        yield faces[subject_index([f.box for f in faces], image.shape)] if faces else None
        if i % 20 == 19 or i == len(paths) - 1:
            bar.update(i + 1)
    bar.close()


def dlib_embeddings(paths: list[Path]) -> dict[str, np.ndarray]:
    """Subject box, dlib embedding and dlib embedding of the mirrored chip of every image (NaN: no face)."""
    pipeline = FacePipeline(RecognitionSettings(encoder="dlib"))  # dlib alone, whatever the default encoder is
    cache = OUT / f"fusion_dlib_{pipeline.encoder.id.replace(':', '_')}_{len(paths)}.npz"
    if cache.exists():
        return dict(np.load(cache))
    n = len(paths)
    boxes, plain, mirrored = (np.full((n, 4), np.nan), np.full((n, 128), np.nan, np.float32),
                              np.full((n, 128), np.nan, np.float32))
    for i, face in enumerate(subject_faces(pipeline, paths, "dlib")):
        if face is not None:
            boxes[i] = face.box
            plain[i], mirrored[i] = pipeline.encoder.encode(np.stack([face.chip, face.chip[:, ::-1]]))
    result = dict(boxes=boxes, plain=plain, mirrored=mirrored)
    OUT.mkdir(exist_ok=True)
    np.savez(cache, **result)
    return result


def facenet_embeddings(encoder: FaceNetEncoder, paths: list[Path], boxes: np.ndarray, margin: float,
                       mirror: bool) -> np.ndarray:
    """(N, 512) FaceNet embeddings of the subjects' crops (mirrored if asked); NaN rows where no face was found."""
    digest = encoder.id.split(":")[-1]  # the file's bytes, whatever its name
    cache = OUT / f"fusion_facenet_{digest}_m{margin:.3f}{'_mirror' if mirror else ''}_{len(paths)}.npy"
    if cache.exists():
        return np.load(cache)
    result = np.full((len(paths), 512), np.nan, np.float32)
    found = np.flatnonzero(~np.isnan(boxes[:, 0]))
    bar = ProgressBar(len(found), f"FaceNet margin {margin}{' mirrored' if mirror else ''}")
    for start in range(0, len(found), 16):
        batch = found[start:start + 16]
        crops = np.concatenate([facenet_crops(load_image(paths[i]), [boxes[i]], margin) for i in batch])
        result[batch] = encoder.encode(crops[:, :, ::-1] if mirror else crops)
        bar.update(start + len(batch))
    bar.close()
    np.save(cache, result)
    return result


# ---------------------------------------------------------------- maths

def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def pair_distances(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(embeddings[pairs[:, 0]] - embeddings[pairs[:, 1]], axis=1)
    return np.nan_to_num(d, nan=MISSING)


def person_folds(persons: np.ndarray, k: int = 10, repeats: int = 5) -> list[np.ndarray]:
    """For each repeat, (pairs, 2) fold numbers of each pair's two people."""
    names = np.unique(persons)
    splits = []
    for seed in range(repeats):
        fold_of = dict(zip(names, np.random.default_rng(seed).permutation(len(names)) % k))
        splits.append(np.vectorize(fold_of.get)(persons))
    return splits


def cv_accuracy(d: np.ndarray, same: np.ndarray, splits: list[np.ndarray]) -> float:
    """Pooled accuracy on held-out people's pairs, the threshold fitted on the pairs of all other people."""
    correct = total = 0
    for folds in splits:
        for f in range(folds.max() + 1):
            held = (folds == f).any(axis=1)
            tau = best_accuracy_threshold(d[~held & same], d[~held & ~same])
            n = held.sum()
            correct += accuracy(d[held & same], d[held & ~same], tau) * n
            total += n
    return correct / total


def best_weight(distances_for, same: np.ndarray, splits) -> tuple[float, np.ndarray]:
    """The w of best CV accuracy (the middle one of a tie) and the CV accuracy of every w in WEIGHTS."""
    curve = np.array([cv_accuracy(distances_for(w), same, splits) for w in WEIGHTS])
    ties = WEIGHTS[curve >= curve.max() - 1e-12]
    return float(ties[len(ties) // 2]), curve


def squared_fusion(d1, d2, w):
    return np.sqrt((1 - w) * d1 ** 2 + w * d2 ** 2)


def fused_vectors(dlib: np.ndarray, facenet: np.ndarray, w: float) -> np.ndarray:
    """One vector per face: concat(sqrt(1 - w) dlib, sqrt(w) facenet), unit length when both parts are."""
    return np.concatenate([np.sqrt(1 - w) * dlib, np.sqrt(w) * facenet], axis=1)


class Evaluator:
    """Figures of a way of scoring pairs: fitted on DevTrain pairs, measured on DevTest pairs."""

    def __init__(self, train_pairs, train_same, test_pairs, test_same, test_images, test_labels):
        self.train_pairs, self.train_same = train_pairs, train_same
        self.test_pairs, self.test_same = test_pairs, test_same
        self.test_images, self.test_labels = test_images, test_labels  # DevTest images with a face, their names
        self.reference_errors = None

    def measure(self, score_train, score_test, all_pairs=None) -> dict:
        """score_*: pair scores (lower = same person). all_pairs: (genuine, impostor) scores of every pair of
        DevTest images, for TAR at low FAR with more than DevTest's 500 impostor pairs."""
        tr, te = self.train_same, self.test_same
        tau = best_accuracy_threshold(score_train[tr], score_train[~tr])
        ceiling_tau = best_accuracy_threshold(score_test[te], score_test[~te])
        errors = (score_test <= tau) != te
        row = dict(
            train=accuracy(score_train[tr], score_train[~tr], tau), tau=tau,
            test=accuracy(score_test[te], score_test[~te], tau),
            ceiling=accuracy(score_test[te], score_test[~te], ceiling_tau),
            tar3=tar_at_far(score_test[te], score_test[~te], 1e-3), tar2=tar_at_far(score_test[te], score_test[~te], 1e-2),
            errors=int(errors.sum()),
        )
        if self.reference_errors is not None:
            row["fixed"] = int((self.reference_errors & ~errors).sum())
            row["broken"] = int((~self.reference_errors & errors).sum())
        if all_pairs is not None:
            genuine, impostor = all_pairs
            row["all3"], row["all4"] = tar_at_far(genuine, impostor, 1e-3), tar_at_far(genuine, impostor, 1e-4)
        return row

    def all_pairs(self, embeddings: np.ndarray):
        """Genuine and impostor distances of every pair of DevTest images (embeddings indexed like paths)."""
        e = embeddings[self.test_images]
        squares = (e ** 2).sum(1)
        d = np.sqrt(np.clip(squares[:, None] + squares[None] - 2 * e @ e.T, 0, None))
        upper = np.triu(np.ones(d.shape, bool), 1)
        same = self.test_labels[:, None] == self.test_labels[None]
        return d[upper & same], d[upper & ~same]

    def vectors(self, embeddings: np.ndarray) -> dict:
        return self.measure(pair_distances(embeddings, self.train_pairs), pair_distances(embeddings, self.test_pairs),
                            self.all_pairs(embeddings))


# ---------------------------------------------------------------- report

def table(rows: list[tuple[str, dict]]) -> str:
    head = ("| | DevTrain acc (own τ) | τ | DevTest acc at DevTrain τ | ceiling (DevTest's own τ) | TAR@FAR1e-3 | "
            "TAR@FAR1e-2 | DevTest errors | fixed / broken vs dlib | all-pairs TAR@1e-3 | all-pairs TAR@1e-4 |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in rows:
        line = (f"| {name} | {100 * r['train']:.2f} | {r['tau']:.4f} | {100 * r['test']:.2f} | {100 * r['ceiling']:.2f} | "
                f"{100 * r['tar3']:.1f} | {100 * r['tar2']:.1f} | {r['errors']} | "
                f"{r.get('fixed', '-')} / {r.get('broken', '-')} | {100 * r['all3']:.2f} | {100 * r['all4']:.2f} |")
        lines.append(line)
    return "\n".join(lines)


def time_per_face(run, batch: int, repeats: int = 30) -> float:
    run(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)) / batch


def speed(paths: list[Path], facenet_files: list[Path | None], margin: float) -> str:
    from engine.faces.align import ChipTemplate, align_faces
    from engine.faces.detect import FaceDetector
    from engine.faces.encode import FaceEncoder
    from engine.runtime import onnx_session
    from engine.faces.encode import MODEL_FILE as DLIB_FILE

    detector, template = FaceDetector(use_gpu=False), ChipTemplate.load()
    images = [load_image(p) for p in paths[:4]]
    faces = [detector.detect(image)[0] for image in images]
    chips = np.concatenate([align_faces(im, [f.landmarks], template) for im, f in zip(images, faces)])
    crops = np.concatenate([facenet_crops(im, [f], margin) for im, f in zip(images, faces)])
    lines = ["| encoder | threads | batch 1 (ms/face) | batch 4 (ms/face) |", "|---|---|---|---|"]
    for threads in (1, 2):
        dlib = FaceEncoder(use_gpu=False)
        dlib.session, _ = onnx_session(model_path(DLIB_FILE), False, threads)
        encoders = [("dlib ResNet", dlib.encode, chips)]
        for file in facenet_files:
            facenet = FaceNetEncoder(file, use_gpu=False, intra_op_threads=threads)
            encoders.append((f"FaceNet ({file.name if file else MODEL_FILE})", facenet.encode, crops))
        for name, encode, inputs in encoders:
            ms = [time_per_face(lambda b: encode(inputs[:b]), b) for b in (1, 4)]
            lines.append(f"| {name} | {threads} | {ms[0]:.1f} | {ms[1]:.1f} |")
    align_ms = time_per_face(lambda b: [align_faces(im, [f.landmarks], template) for im, f in zip(images[:b], faces)], 4)
    crop_ms = time_per_face(lambda b: [facenet_crops(im, [f], margin) for im, f in zip(images[:b], faces)], 4)
    lines.append(f"\nPreparing the input (ms/face): dlib chip (alignment) {align_ms:.2f}, FaceNet crop {crop_ms:.2f}.")
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def view1(root: Path, limit: int | None = None):
    """LFW View-1's images (sorted), DevTrain and DevTest pairs, the people-split CV folds of DevTrain, dlib's
    embeddings and an Evaluator of DevTrain-fitted, DevTest-measured pair scores."""
    images = root / "images"
    train = read_pairs(root / "pairsDevTrain.txt", images)[::-1][:limit]  # both kinds with --limit
    test = read_pairs(root / "pairsDevTest.txt", images)[::-1][:limit]
    paths = sorted({p for pair in train + test for p in (pair.first, pair.second)})
    index = {p: i for i, p in enumerate(paths)}
    as_array = lambda pairs: np.array([[index[p.first], index[p.second]] for p in pairs])  # noqa: E731
    train_pairs, test_pairs = as_array(train), as_array(test)
    splits = person_folds(np.array([[p.first.parent.name, p.second.parent.name] for p in train]))
    dlib = dlib_embeddings(paths)
    found = ~np.isnan(dlib["boxes"][:, 0])
    test_images = np.array([i for i in np.unique(test_pairs) if found[i]])
    ev = Evaluator(train_pairs, np.array([p.same for p in train]), test_pairs, np.array([p.same for p in test]),
                   test_images, np.array([paths[i].parent.name for i in test_images]))
    return paths, train, test, splits, dlib, ev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/faces/lfw-view1")
    parser.add_argument("--model", type=Path, help="FaceNet ONNX file (default: the shipped one)")
    parser.add_argument("--margins", default="0,0.05,0.1,0.15,0.2,0.3", help="crop margins to compare (of the box size)")
    parser.add_argument("--compare-models", type=Path, nargs="*", default=[],
                        help="other FaceNet files (e.g. float16 weights) to compare at the chosen margin")
    parser.add_argument("--speed", action="store_true", help="also time both encoders (1 and 2 threads, batch 1 and 4)")
    parser.add_argument("--save-calibration", action="store_true",
                        help=f"write {CALIBRATION.relative_to(CALIBRATION.parents[2])}")
    parser.add_argument("--report", type=Path, default=OUT / "fusion_report.md")
    parser.add_argument("--limit", type=int, help="only the first N pairs of each file (a quick look)")
    args = parser.parse_args()

    paths, train, test, splits, dlib, ev = view1(args.root, args.limit)
    train_pairs, test_pairs, train_same, test_same = ev.train_pairs, ev.test_pairs, ev.train_same, ev.test_same
    train_images = np.unique(train_pairs)
    found = ~np.isnan(dlib["boxes"][:, 0])
    encoder = FaceNetEncoder(args.model, use_gpu=False, intra_op_threads=1)
    report = [f"# dlib + FaceNet on LFW View-1\n\n{len(paths)} images ({len(train_images)} DevTrain, "
              f"{len(np.unique(test_pairs))} DevTest), {len(train)} DevTrain and {len(test)} DevTest pairs; "
              f"{(~found).sum()} images without a face. Encoders: dlib ResNet, FaceNet `{encoder.id}`. "
              f"TAR@FAR on DevTest pairs: 500 impostor pairs, so FAR 1e-3 means no impostor accepted; the all-pairs "
              f"columns use every pair of the {len(ev.test_images)} DevTest images ({len(ev.all_pairs(dlib['plain'])[0])} "
              f"genuine, {len(ev.all_pairs(dlib['plain'])[1])} impostor).\n"]

    def standardiser(embeddings):
        usable = embeddings[train_images][~np.isnan(embeddings[train_images, 0])]
        mean, std = usable.mean(0), usable.std(0)
        return (lambda e: unit((e - mean) / std)), mean, std

    # 1. FaceNet's crop margin, chosen by CV accuracy on DevTrain (standardised embeddings)
    margins = [float(m) for m in args.margins.split(",")]
    rows, cv = [], {}
    for margin in margins:
        raw = facenet_embeddings(encoder, paths, dlib["boxes"], margin, False)
        std = standardiser(raw)[0](raw)
        cv[margin] = cv_accuracy(pair_distances(std, train_pairs), train_same, splits)
        r_raw, r_std = ev.vectors(raw), ev.vectors(std)
        rows.append(f"| {margin:.2f} | {100 * r_raw['train']:.2f} | {100 * r_raw['test']:.2f} | "
                    f"{100 * cv[margin]:.2f} | {100 * r_std['train']:.2f} | {100 * r_std['test']:.2f} | "
                    f"{100 * r_std['tar3']:.1f} | {100 * r_std['all3']:.2f} |")
    margin = max(margins, key=lambda m: (round(cv[m], 6), -abs(m - MARGIN)))
    report.append("## FaceNet crop margin (each side, times the box's width/height)\n\n"
                  "| margin | raw: DevTrain acc | raw: DevTest acc | std: DevTrain CV acc | std: DevTrain acc | "
                  "std: DevTest acc | std: TAR@1e-3 | std: all-pairs TAR@1e-3 |\n|---|---|---|---|---|---|---|---|\n"
                  + "\n".join(rows) + f"\n\nChosen on DevTrain CV accuracy: margin {margin}.\n")
    box_w = dlib["boxes"][found, 2] - dlib["boxes"][found, 0]
    report.append(f"Subject box width on these images: median {np.median(box_w):.0f} px "
                  f"(10-90 %: {np.percentile(box_w, 10):.0f}-{np.percentile(box_w, 90):.0f}).\n")

    # 2. each encoder alone, raw / standardised / mirror-averaged
    facenet_raw = facenet_embeddings(encoder, paths, dlib["boxes"], margin, False)
    facenet_mirror = facenet_embeddings(encoder, paths, dlib["boxes"], margin, True)
    variants = {
        "dlib": dlib["plain"], "dlib + flip": unit(dlib["plain"] + dlib["mirrored"]),
        "dlib standardised": standardiser(dlib["plain"])[0](dlib["plain"]),
        "FaceNet raw": facenet_raw, "FaceNet raw + flip": unit(facenet_raw + facenet_mirror),
    }
    facenet_std, mean, std = standardiser(facenet_raw)
    variants["FaceNet std"] = facenet_std(facenet_raw)
    flip_std, flip_mean, flip_std_dev = standardiser(unit(facenet_raw + facenet_mirror))
    variants["FaceNet std + flip"] = flip_std(unit(facenet_raw + facenet_mirror))
    reference = ev.vectors(variants["dlib"])
    ev.reference_errors = (pair_distances(variants["dlib"], test_pairs) <= reference["tau"]) != test_same
    results = {name: ev.vectors(e) for name, e in variants.items()}
    cv_single = {name: cv_accuracy(pair_distances(e, train_pairs), train_same, splits) for name, e in variants.items()}
    report.append("## Each encoder alone\n\n" + table(list(results.items())) + "\n\nDevTrain CV accuracy (people-split "
                  "10-fold x 5): " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in cv_single.items()) + "\n")

    # 3. fusion: squared (one vector) and linear z-scored, for each flip choice
    fusion_rows, fitted = [], {}
    for dlib_name in ("dlib", "dlib + flip"):
        for facenet_name in ("FaceNet std", "FaceNet std + flip"):
            a, b = variants[dlib_name], variants[facenet_name]
            d1, d2 = pair_distances(a, train_pairs), pair_distances(b, train_pairs)
            t1, t2 = pair_distances(a, test_pairs), pair_distances(b, test_pairs)
            w, curve = best_weight(lambda w: squared_fusion(d1, d2, w), train_same, splits)
            fused = fused_vectors(a, b, w)
            name = f"{dlib_name} ⊕ {facenet_name}"
            fitted[name] = dict(w=w, curve=curve, cv=curve.max(), vectors=fused)
            fusion_rows.append((f"squared: {name}, w={w:.3f}", ev.vectors(fused)))
            z = [(d.mean(), d.std()) for d in (d1, d2)]
            linear = lambda x1, x2, w: (1 - w) * (x1 - z[0][0]) / z[0][1] + w * (x2 - z[1][0]) / z[1][1]  # noqa: E731
            wl, curve_l = best_weight(lambda w: linear(d1, d2, w), train_same, splits)
            g1, i1 = ev.all_pairs(a)
            g2, i2 = ev.all_pairs(b)
            fusion_rows.append((f"linear z: {name}, w={wl:.3f}",
                                ev.measure(linear(d1, d2, wl), linear(t1, t2, wl),
                                           (linear(g1, g2, wl), linear(i1, i2, wl)))))
            fitted[name].update(w_linear=wl, curve_linear=curve_l, z=z)
    report.append("## Fusion (w = FaceNet's share, chosen by people-split CV on DevTrain pairs)\n\n"
                  + table([("dlib (reference)", results["dlib"])] + fusion_rows) + "\n\nDevTrain CV accuracy at the "
                  "chosen w: " + "; ".join(f"{k}: squared {100 * v['cv']:.2f} %, "
                                           f"linear {100 * v['curve_linear'].max():.2f} %"
                                           for k, v in fitted.items()) + "\n")
    main_name = "dlib ⊕ FaceNet std"
    for form, key in (("squared", "curve"), ("linear z", "curve_linear")):
        report.append(f"CV accuracy on DevTrain against w ({form}, {main_name}): "
                      + ", ".join(f"{w:.2f}: {100 * c:.2f}" for w, c in zip(WEIGHTS, fitted[main_name][key])
                                  if round(w * 40) % 2 == 0) + "\n")

    # 4. other files of the same model (e.g. float16 weights), at the chosen margin, standardised with their own stats
    if args.compare_models:
        rows = []
        base = variants["FaceNet std"]
        for file in [args.model, *args.compare_models]:
            other = FaceNetEncoder(file, use_gpu=False, intra_op_threads=1)
            raw = facenet_embeddings(other, paths, dlib["boxes"], margin, False)
            emb = standardiser(raw)[0](raw)
            diff = np.nanmax(np.abs(raw - facenet_raw))
            d_change = np.abs(pair_distances(emb, test_pairs) - pair_distances(base, test_pairs)).max()
            fused = ev.vectors(fused_vectors(variants["dlib"], emb, fitted[main_name]["w"]))
            r = ev.vectors(emb)
            size = (file or model_path(MODEL_FILE)).stat().st_size / 1e6
            rows.append(f"| {file.name if file else 'shipped'} ({size:.1f} MB) | {diff:.1e} | {d_change:.1e} | "
                        f"{100 * r['test']:.2f} | {100 * r['tar3']:.1f} | {100 * r['all3']:.2f} | "
                        f"{100 * fused['test']:.2f} | {100 * fused['tar3']:.1f} | {100 * fused['all3']:.2f} |")
        report.append("## FaceNet files compared (all images, chosen margin)\n\n| file | max abs diff of raw embeddings "
                      "vs shipped | max change of a DevTest std distance | std: DevTest acc | std: TAR@1e-3 | "
                      "std: all-pairs TAR@1e-3 | fused: DevTest acc | fused: TAR@1e-3 | fused: all-pairs TAR@1e-3 |\n"
                      "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")

    if args.speed:
        report.append("## Cost per face (ONNX Runtime CPU, median of 30 runs)\n\n"
                      + speed(paths, [args.model, *args.compare_models], margin) + "\n")

    if args.save_calibration:
        w = fitted[main_name]["w"]
        tau = ev.vectors(fitted[main_name]["vectors"])["tau"]
        np.savez(CALIBRATION, facenet_mean=mean.astype(np.float32), facenet_std=std.astype(np.float32),
                 dlib_weight=np.float32(np.sqrt(1 - w)), facenet_weight=np.float32(np.sqrt(w)), margin=np.float32(margin),
                 tau=np.float32(tau), flip=False, dlib_encoder=reference_id(), facenet_encoder=encoder.id,
                 source=f"LFW View-1 DevTrain: mean/std over its {len(train_images)} images, w by people-split "
                        f"10-fold x 5 CV on its {len(train)} pairs, tau its best-accuracy threshold")
        report.append(f"Saved {CALIBRATION.name}: dlib weight a = {np.sqrt(1 - w):.4f}, FaceNet weight b = "
                      f"{np.sqrt(w):.4f}, margin {margin}, tau {tau:.4f}.\n")

    text = "\n".join(report)
    print(text)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)


def reference_id() -> str:
    from engine.faces.encode import FaceEncoder

    return FaceEncoder.model_id()


if __name__ == "__main__":
    main()
