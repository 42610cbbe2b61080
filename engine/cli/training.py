"""Training commands: train (triplet loss), train-pairs (pair classifier), calibrate (tau for a target FAR)."""
from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np

from ..config import data_dir, load_settings
from ..errors import BadInput
from . import EXIT_OK, output_file

DEFAULT_LFW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "lfw-view1"


def register(commands) -> None:
    settings = load_settings().training
    train = commands.add_parser("train", help="fine-tune the encoder (or train a small one) with triplet loss")
    train.add_argument("--data", type=Path, required=True, help="folder with one sub-folder of photos per person")
    train.add_argument("--mode", choices=("last-block", "full", "small"), default="last-block",
                       help="what moves: the last block + projection, the full network, or a small net from scratch")
    train.add_argument("--mining", choices=("batch-hard", "semi-hard", "random"),
                       help=f"triplet mining (default: {settings.mining} from the settings; semi-hard for --mode small, "
                            "where the hardest negatives collapse a network trained from scratch, as FaceNet warns)")
    train.add_argument("--margin", type=float, default=settings.margin, help="alpha, in squared distance")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--steps", type=int, default=50, help="batches per epoch")
    train.add_argument("--people", type=int, default=16, help="P: people per batch")
    train.add_argument("--shots", type=int, default=4, help="K: photos per person per batch")
    train.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4, 1e-3 for --mode small)")
    train.add_argument("--patience", type=int, default=3, help="epochs without held-out progress before stopping")
    train.add_argument("--held-out", type=float, default=0.2, help="fraction of the people kept out for early stopping")
    train.add_argument("--name", help="name of the new encoder (default: MODE-FOLDER)")
    train.add_argument("--resume", action="store_true", help="go on from this name's last checkpoint")
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.set_defaults(run=run_train)

    pairs = commands.add_parser("train-pairs", help="learn P(same person) from labelled pairs (logistic unit)")
    _lfw_arguments(pairs, "pairsDevTrain.txt")
    pairs.add_argument("--features", choices=("abs", "chi2"), default="abs", help="|f1-f2| or chi-square terms")
    pairs.add_argument("--test", type=Path, help="a second pair list to measure accuracy on")
    pairs.add_argument("--out", type=output_file,
                       help="where to save (default: pair_classifier-<encoder>.npz in the data folder)")
    pairs.set_defaults(run=run_train_pairs)

    calibrate = commands.add_parser("calibrate", help="genuine/impostor distances, ROC, FAR/FRR, tau for a FAR")
    _lfw_arguments(calibrate, "pairsDevTrain.txt")
    calibrate.add_argument("--far", type=float, default=1e-3, help="target false-accept rate")
    calibrate.add_argument("--gallery", type=Path, nargs="?", const=Path(), default=None,
                           help="use every pair of the gallery's shots instead of pairs (optionally a gallery file)")
    calibrate.add_argument("--plot", type=output_file,
                           help="PNG of the curves (default: calibration.png in the data folder)")
    calibrate.set_defaults(run=run_calibrate)


def _lfw_arguments(parser, default_pairs: str) -> None:
    parser.add_argument("--root", type=Path, default=DEFAULT_LFW, help="LFW folder (images/<Name>/<Name>_NNNN.jpg)")
    parser.add_argument("--pairs", type=Path, help=f"LFW-format pair list (default: ROOT/{default_pairs})")
    parser.add_argument("--encoder", help="dlib+facenet, dlib, facenet or an encoder .onnx made by train "
                                          "(default: Settings › Recognition › encoder)")
    parser.set_defaults(default_pairs=default_pairs)


# ----- train -----

def run_train(args) -> int:
    import torch

    from ..cli.progress import ProgressBar
    from ..training.datasets import cached_face_set, person_folders
    from ..training.train import TrainableEncoder, config_for, export_encoder, train

    torch.set_num_threads(args.threads or torch.get_num_threads())
    work = data_dir() / "training"
    images = person_folders(args.data)
    cache = work / f"chips-{hashlib.sha1(str(args.data.resolve()).encode()).hexdigest()[:12]}.npz"
    faces = cached_face_set(images, cache, lambda: _pipeline(None), _progress("detect + align"))
    faces = faces.people_with_at_least(2)
    if len(faces.names) < 4:
        raise BadInput(f"{args.data} has {len(faces.names)} people with two or more usable photos; "
                       "training needs at least 4.")
    train_set, held_out = faces.split_people(args.held_out)
    name = args.name or f"{args.mode}-{args.data.resolve().name}"
    mining = args.mining or ("semi-hard" if args.mode == "small" else load_settings().training.mining)
    overrides = dict(mining=mining, margin=args.margin, epochs=args.epochs, steps_per_epoch=args.steps,
                     people_per_batch=args.people, shots_per_person=args.shots, patience=args.patience)
    if args.lr:
        overrides["learning_rate"] = args.lr
    config = config_for(args.mode, **overrides)
    checkpoint = work / f"{name}.pt"
    if checkpoint.exists() and not args.resume:
        checkpoint.unlink()
    print(f"{len(train_set.names)} people ({len(train_set)} photos) to train on, {len(held_out.names)} "
          f"({len(held_out)}) held out; mode {config.mode}, mining {config.mining}, margin {config.margin}", file=sys.stderr)
    bar: dict[str, ProgressBar] = {}

    def on_step(step, total, loss):
        bar.setdefault("bar", ProgressBar(total, "epoch")).update(step, f"loss {loss:.4f}")

    def on_epoch(log):
        if "bar" in bar:
            bar.pop("bar").close()
        print(f"epoch {log.epoch}: loss {log.loss:.4f}, active triplets {100 * log.active_fraction:.1f} %, held-out "
              f"TAR@FAR1% {100 * log.held_out_tar:.2f} %, AUC {log.held_out_auc:.4f}, "
              f"d' {log.held_out_dprime:.2f} ({log.seconds:.0f} s)")

    result = train(train_set, held_out, config, TrainableEncoder(config.mode), checkpoint, on_step, on_epoch)
    out = data_dir() / "encoders" / f"{name}.onnx"
    best = result.history[result.best_epoch]
    encoder_id = export_encoder(result.model, out, {
        "mode": config.mode, "data": str(args.data.resolve()), "best_epoch": result.best_epoch,
        "held_out_tar_at_far_1pct": best.held_out_tar, "start_tar_at_far_1pct": result.history[0].held_out_tar})
    print(f"best epoch {result.best_epoch}: held-out TAR@FAR1% {100 * best.held_out_tar:.2f} % "
          f"(start {100 * result.history[0].held_out_tar:.2f} %)")
    print(f"encoder {encoder_id} written to {out}; to use it, set Settings › Recognition › encoder to that file "
          "(it gets its own gallery: enroll people again with it)")
    return EXIT_OK


def _progress(label):
    from ..cli.progress import ProgressBar

    bar = ProgressBar(1, label)

    def update(done, total):
        bar.total = total
        bar.update(done)
        if done == total:
            bar.close()
    return update


def _pipeline(encoder: str | None):
    from ..pipeline import FacePipeline

    settings = load_settings().recognition
    return FacePipeline(dataclasses.replace(settings, encoder=encoder or settings.encoder))


# ----- pairs: embeddings of the images an LFW pair list names -----

def _read_pair_list(args, pairs_file: Path | None = None):
    from ..training.pairs import read_pairs

    pairs_file = pairs_file or args.pairs or args.root / args.default_pairs
    if not pairs_file.is_file():
        raise BadInput(f"There is no pair list {pairs_file}: give --root DIR (LFW layout) and --pairs FILE.")
    images = args.root / "images" if (args.root / "images").is_dir() else args.root
    return read_pairs(pairs_file, images)


def _embed_pairs(pairs, pipeline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first embeddings, second embeddings, same) for the pairs where both faces were found."""
    from ..errors import LikenessError
    from ..images import load_image
    from ..training.datasets import central_face

    paths = sorted({p for pair in pairs for p in (pair.first, pair.second)})
    embeddings, update = {}, _progress("embedding")
    for done, path in enumerate(paths, 1):
        try:
            image = load_image(path)
            faces = pipeline.observe(image)
        except LikenessError as error:
            print(f"error: {error}", file=sys.stderr)
            faces = []
        if faces:
            embeddings[path] = central_face(faces, image.shape).embedding
        if done % 20 == 0 or done == len(paths):
            update(done, len(paths))
    usable = [p for p in pairs if p.first in embeddings and p.second in embeddings]
    if len(usable) < len(pairs):
        print(f"{len(pairs) - len(usable)} pair(s) left out: no face found in one of their images", file=sys.stderr)
    return (np.stack([embeddings[p.first] for p in usable]), np.stack([embeddings[p.second] for p in usable]),
            np.array([p.same for p in usable]))


# ----- train-pairs -----

def run_train_pairs(args) -> int:
    from ..training.calibration import accuracy, best_accuracy_threshold
    from ..pair_classifier import default_path
    from ..training.pair_classifier import fit_pair_classifier

    pipeline = _pipeline(args.encoder)
    f1, f2, same = _embed_pairs(_read_pair_list(args), pipeline)
    classifier = fit_pair_classifier(f1, f2, same, args.features, pipeline.encoder.id)
    train_accuracy = np.mean(classifier.same(f1, f2) == same)
    print(f"{len(same)} training pairs; accuracy on them {100 * train_accuracy:.2f} %")
    if args.test:
        d = np.linalg.norm(f1 - f2, axis=1)
        tau = best_accuracy_threshold(d[same], d[~same])
        t1, t2, test_same = _embed_pairs(_read_pair_list(args, args.test), pipeline)
        test_d = np.linalg.norm(t1 - t2, axis=1)
        print(f"{len(test_same)} test pairs: pair classifier {100 * np.mean(classifier.same(t1, t2) == test_same):.2f} %, "
              f"distance rule {100 * accuracy(test_d[test_same], test_d[~test_same], tau):.2f} % "
              f"(tau={tau:.4f} from training pairs)")
    out = args.out or default_path(classifier.encoder_id)
    classifier.save(out)
    print(f"pair classifier ({args.features}, encoder {classifier.encoder_id}) written to {out}")
    return EXIT_OK


# ----- calibrate -----

def run_calibrate(args) -> int:
    from ..training.calibration import (Calibration, accuracy, best_accuracy_threshold, plot_calibration,
                                        threshold_at_far, user_calibration_path)

    if not 0 < args.far < 1:
        raise BadInput(f"--far must be between 0 and 1, not {args.far}.")
    if args.gallery is not None:
        genuine, impostor, encoder_id, source = _gallery_distances(args)
    else:
        pipeline = _pipeline(args.encoder)
        f1, f2, same = _embed_pairs(_read_pair_list(args), pipeline)
        d = np.linalg.norm(f1 - f2, axis=1)
        genuine, impostor, encoder_id = d[same], d[~same], pipeline.encoder.id
        source = f"pairs of {args.pairs or args.root / args.default_pairs}"
    if len(impostor) * args.far < 1:
        print(f"warning: {len(impostor)} impostor pairs cannot measure a FAR of {args.far:g}; "
              f"the smallest measurable is {1 / len(impostor):.1e}", file=sys.stderr)
    tau = threshold_at_far(impostor, args.far)
    best = best_accuracy_threshold(genuine, impostor)
    print(f"{len(genuine)} genuine and {len(impostor)} impostor pairs ({source}; encoder {encoder_id})")
    print(f"at tau={tau:.4f}: FAR {np.mean(impostor <= tau):.2e}, FRR {np.mean(genuine > tau):.2e}")
    print(f"best accuracy {100 * accuracy(genuine, impostor, best):.2f} % at tau={best:.4f}")
    calibration = Calibration.from_distances(genuine, impostor, encoder_id, source)
    saved = user_calibration_path(encoder_id)
    calibration.save(saved)
    print("presets: " + ", ".join(f"{name} tau={value:.3f}" for name, value in calibration.presets().items())
          + f" (histograms in {saved})")
    plot = args.plot or data_dir() / "calibration.png"
    plot_calibration(genuine, impostor, tau, args.far, plot)
    print(f"curves written to {plot}")
    print_liveness_points()
    print(f"tau={tau:.6f}")
    return EXIT_OK


def print_liveness_points() -> None:
    from ..faces.liveness_points import describe_points

    liveness = load_settings().liveness
    print("passive liveness: " + describe_points(liveness.threshold, liveness.still_threshold).replace("\n", "\n  "))


def _gallery_distances(args):
    from ..faces.encoders import with_encoder
    from ..operating import identify_point
    from ..recognizer import gallery_for
    from ..training.train import all_pair_distances

    settings = load_settings()
    settings = with_encoder(settings, args.encoder) if args.encoder else settings
    with gallery_for(settings, None if args.gallery == Path() else args.gallery) as gallery:
        matrix, encoder_id, where = gallery.matrix(), gallery.encoder_id, gallery.status().where
    recognition = settings.recognition
    print("identify (1:K): " + identify_point(matrix, recognition.tau, recognition.stranger_rate, encoder_id).summary())
    shots = np.bincount(matrix.owners, minlength=len(matrix.names))
    if np.sum(shots >= 2) < 2:
        raise BadInput(f"The gallery has {np.sum(shots >= 2)} people with two or more shots; calibration needs "
                       "at least 2 (better: dozens) to measure genuine distances.")
    genuine, impostor = all_pair_distances(matrix.embeddings, matrix.owners)
    return genuine, impostor, encoder_id, f"every pair of the {len(matrix.owners)} shots in {where}"
