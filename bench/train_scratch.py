"""Proof (1): the small ConvNet trained from scratch with triplet loss on the people of LFW View-1 DevTrain
beats its random initialisation on DevTest (disjoint people), and hard mining beats random triplets at equal steps.

    python bench/train_scratch.py [--epochs 30 --steps 40 --seeds 3]

For each seed, every mining starts from the same random weights and sees the same batches; the table gives the
mean and standard deviation over the seeds (one run on 1,000 test pairs is too noisy to rank them: the
standard error of one accuracy near 75 % is 1.4 points). 10 % of the DevTrain people are held out to pick the
best epoch; DevTest is only used for the final numbers (View-1 protocol: tau of best accuracy on the DevTrain
pairs, accuracy on the DevTest pairs). Writes docs/training/scratch_training.png (the first seed's curves).
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from train_common import DOCS, lfw_faces, pair_distances, pyplot, view1_accuracy, view1_pairs
from engine.training.calibration import roc, tar_at_far
from engine.training.small_net import SmallFaceNet
from engine.training.train import TrainableEncoder, config_for, embed_all, train


def devtest_numbers(encoder, train_faces, test_faces, train_pairs, test_pairs):
    train_e = embed_all(encoder, encoder.inputs(train_faces.chips, mirrored=False))
    test_e = embed_all(encoder, encoder.inputs(test_faces.chips, mirrored=False))
    acc, tau = view1_accuracy(train_e, train_pairs, test_e, test_pairs)
    genuine, impostor = pair_distances(test_e, test_pairs)
    return {"accuracy": acc, "tau": tau, "auc": roc(genuine, impostor).auc,
            "tar_far_1pct": tar_at_far(genuine, impostor, 1e-2), "roc": roc(genuine, impostor)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--people", type=int, default=32)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--mining", nargs="+", default=["batch-hard", "semi-hard", "random"])
    parser.add_argument("--seeds", type=int, default=3, help="repeat everything with this many seeds")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train_faces, test_faces = lfw_faces("Train"), lfw_faces("Test")
    train_pairs, test_pairs = view1_pairs("Train", train_faces), view1_pairs("Test", test_faces)
    trainable, held_out = train_faces.people_with_at_least(2).split_people(0.1, seed=1)
    print(f"DevTrain: {len(trainable.names)} people / {len(trainable)} chips to train on, "
          f"{len(held_out.names)} / {len(held_out)} held out; DevTest: {len(test_faces.names)} people / {len(test_faces)}")
    runs = [one_seed(seed, args, trainable, held_out, train_faces, test_faces, train_pairs, test_pairs)
            for seed in range(args.seeds)]
    steps = args.epochs * args.steps
    print(f"\nLFW View-1 DevTest, SmallFaceNet ({steps} steps of {args.people}x{args.shots}, margin 0.2, Adam 1e-3), "
          f"mean +- std over {args.seeds} seed(s)")
    print(f"{'':<12} {'accuracy %':>14} {'AUC':>16} {'TAR@FAR1% %':>14} {'minutes':>8}")
    for name in runs[0][0]:
        column = {key: np.array([results[name][key] for results, _ in runs]) for key in ("accuracy", "auc", "tar_far_1pct")}
        minutes = np.mean([results[name].get("minutes", 0.0) for results, _ in runs])
        print(f"{name:<12} {100 * column['accuracy'].mean():7.2f} +- {100 * column['accuracy'].std():4.2f} "
              f"{column['auc'].mean():8.4f} +- {column['auc'].std():.4f} "
              f"{100 * column['tar_far_1pct'].mean():6.2f} +- {100 * column['tar_far_1pct'].std():4.2f} {minutes:8.1f}")
    first_results, first_histories = runs[0]
    plot(first_histories, first_results)


def one_seed(seed, args, trainable, held_out, train_faces, test_faces, train_pairs, test_pairs):
    """({name: DevTest numbers}, {mining: epoch history}) of the random start and each mining, from one seed."""
    torch.manual_seed(seed)
    initial = SmallFaceNet()
    results = {"random init": devtest_numbers(TrainableEncoder("small", model=copy.deepcopy(initial)),
                                              train_faces, test_faces, train_pairs, test_pairs)}
    histories = {}
    for mining in args.mining:
        config = config_for("small", mining=mining, epochs=args.epochs, steps_per_epoch=args.steps,
                            people_per_batch=args.people, shots_per_person=args.shots, patience=args.epochs, seed=seed)
        encoder = TrainableEncoder("small", model=copy.deepcopy(initial))
        start = time.monotonic()
        result = train(trainable, held_out, config, encoder, on_epoch=lambda log, m=mining: print(
            f"  seed {seed} {m} epoch {log.epoch}: loss {log.loss:.4f}, active {100 * log.active_fraction:.1f} %, "
            f"held-out TAR@FAR1% {100 * log.held_out_tar:.1f} %", flush=True))
        histories[mining] = result.history
        results[mining] = devtest_numbers(encoder, train_faces, test_faces, train_pairs, test_pairs)
        results[mining]["minutes"] = (time.monotonic() - start) / 60
    return results, histories


COLORS = {"random init": "grey", "batch-hard": "C0", "semi-hard": "C1", "random": "C2"}  # the same in every panel


def plot(histories, results) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for mining, history in histories.items():
        epochs, style = [h.epoch for h in history[1:]], {"marker": "o", "label": mining, "color": COLORS[mining]}
        axes[0].plot(epochs, [h.loss for h in history[1:]], **style)
        axes[1].plot(epochs, [100 * h.active_fraction for h in history[1:]], **style)
        axes[2].plot([h.epoch for h in history], [100 * h.held_out_tar for h in history], **style)
    axes[0].set(xlabel="epoch", ylabel="mean triplet loss", title="training loss (per mined triplet)")
    axes[1].set(xlabel="epoch", ylabel="% triplets with L > 0", title="active triplets")
    axes[2].set(xlabel="epoch", ylabel="TAR at FAR 1 % (%)", title="held-out DevTrain people")
    for name, r in results.items():
        curve = r["roc"]
        axes[3].semilogx(np.maximum(curve.far, 1e-3), curve.tar, color=COLORS[name],
                         label=f"{name} ({100 * r['accuracy']:.1f} %)")
    axes[3].set(xlabel="false accept rate", ylabel="true accept rate", title="LFW View-1 DevTest ROC")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.savefig(DOCS / "scratch_training.png", dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main()
