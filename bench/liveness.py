"""Passive liveness on the shared live and replay clips and on still photos: APCER / BPCER, as markdown.

    python bench/liveness.py [--data ../shared/data] [--threshold T] [--weights model=1 screen_frame=0.9 ...]
                             [--fit] [--out bench/out/liveness.md]

APCER: share of attack presentations accepted as live; BPCER: share of bona fide presentations rejected.
Each is given per face track (the CLI's verdict: mean score over the track) and per frame (the smoothed
verdict a live view shows on each frame). Labels: every face of a *_live_* clip is bona fide, every face
of a *_replay_* clip an attack, except in zubair_live_plus_phone_replay.mp4 where the person (faces
wider than 130 px) is bona fide and the face on the phone (about 100 px wide) is the attack.
Stills are single frames: bona fide are the photos of deepface_celebs and the LFW View-1 DevTest images
(every 2nd), attacks are every 15th frame of the replay clips (the face on the screen or the phone). --fit
prints the threshold at which 5 % of the faces of the LFW View-1 DevTrain images (every 2nd; people disjoint
from DevTest's) are rejected: the default operating point, fixed on bona fide data only.
--weights replaces cue weights for this run (to compare combinations; 0 silences a cue).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.faces.antispoof import AntiSpoofModel  # noqa: E402
from engine.faces.detect import FaceDetector  # noqa: E402
from engine.faces.landmarks import FaceMeshModel  # noqa: E402
from engine.faces.liveness import CUE_WEIGHTS, DEFAULT_THRESHOLD, assess_frames  # noqa: E402
from engine.images import load_image, video_frames  # noqa: E402
from engine.training.pairs import read_pairs  # noqa: E402

CLIPS = ["zubair_live_webcam.mov", "tranvanluyt_live_phone_selfie.mp4", "tranvanluyt_replay_screen.mp4",
         "zubair_live_plus_phone_replay.mp4"]
PHONE_FACE_MAX_WIDTH = 130


def is_attack(clip: str, report) -> bool:
    if clip == "zubair_live_plus_phone_replay.mp4":
        return report.mean_box[2] - report.mean_box[0] < PHONE_FACE_MAX_WIDTH
    return "_replay_" in clip


def rate(errors: int, total: int) -> str:
    return f"{errors}/{total} ({100 * errors / total:.0f} %)" if total else "–"


def cue_rates(reports) -> str:
    """Per cue: share of the frames where it could speak on which its evidence was >= 0.5."""
    parts = []
    for name in CUE_WEIGHTS:
        values = [v for r in reports for v in r.evidence[name]]
        fired = np.mean(np.array(values) >= 0.5) if values else float("nan")
        parts.append(f"{name} {fired:.0%} of {len(values)}" if values else f"{name} –")
    return "; ".join(parts)


def clip_rows(videos: Path, models, threshold: float) -> list[str]:
    detector, mesh_model, antispoof = models
    rows = []
    for clip in CLIPS:
        start = time.perf_counter()
        reports, too_short = assess_frames(video_frames(videos / clip), detector, mesh_model, threshold,
                                           antispoof=antispoof)
        seconds = time.perf_counter() - start
        for attack in (True, False):
            group = [r for r in reports if is_attack(clip, r) == attack]
            if not group:
                continue
            wrong_tracks = sum(r.live == attack for r in group)
            frames = [live for r in group for live in r.frame_live]
            wrong_frames = sum(live == attack for live in frames)
            kind = "attack" if attack else "bona fide"
            metric = "APCER" if attack else "BPCER"
            scores = ", ".join(f"{r.score:.2f}" for r in group)
            rows.append(f"| {clip} | {kind} | {len(group)} | {scores} | {metric} {rate(wrong_tracks, len(group))} | "
                        f"{metric} {rate(wrong_frames, len(frames))} | {cue_rates(group)} |")
        print(f"{clip}: {len(reports)} tracks judged, {too_short} too short, {seconds:.1f} s", file=sys.stderr)
    return rows


def still_scores(images, models, threshold: float) -> list:
    """(image name, TrackReport) for every face of every (name, RGB image)."""
    detector, _, antispoof = models
    found = []
    for name, image in images:
        reports, _ = assess_frames([(0, 0.0, image)], detector, None, threshold, min_frames=1, antispoof=antispoof)
        found += [(name, report) for report in reports]
    return found


def photos(paths):
    return ((path.name, load_image(path)) for path in paths)


def lfw_images(data: Path, pairs_file: str) -> list[Path]:
    root = data / "faces" / "lfw-view1"
    pairs = read_pairs(root / pairs_file, root / "images")
    return sorted({p for pair in pairs for p in (pair.first, pair.second)})[::2]


def attack_frames(videos: Path):
    """Every 15th frame of the replay clips, named clip#frame; in the phone clip only the phone face counts."""
    for clip in CLIPS:
        if "replay" in clip:
            for index, _, image in video_frames(videos / clip, every=15):
                yield f"{clip}#{index}", image


def still_row(title: str, found: list, attack: bool) -> str:
    if attack:  # the person beside the phone is not an attack
        found = [(n, r) for n, r in found if "phone" not in n or r.mean_box[2] - r.mean_box[0] < PHONE_FACE_MAX_WIDTH]
    wrong = [name for name, report in found if report.live == attack]
    scores = np.array([report.score for _, report in found])
    metric = "APCER" if attack else "BPCER"
    listed = ", ".join(sorted(set(wrong))[:8]) + (" …" if len(set(wrong)) > 8 else "") if wrong else "none"
    return (f"| {title} | {'attack' if attack else 'bona fide'} | {len(found)} faces | median {np.median(scores):.2f} | "
            f"{metric} {rate(len(wrong), len(found))} | (single frames) | wrong: {listed} |")


def fit_threshold(data: Path, models, target_bpcer: float = 0.05) -> float:
    found = still_scores(photos(lfw_images(data, "pairsDevTrain.txt")), models, 1.0)
    scores = np.array([report.score for _, report in found])
    threshold = float(np.quantile(scores, 1 - target_bpcer))
    print(f"operating point: spoof score {threshold:.3f} rejects {np.mean(scores >= threshold):.1%} of the "
          f"{len(scores)} faces of LFW View-1 DevTrain images (every 2nd)", file=sys.stderr)
    return threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--weights", nargs="*", default=[], metavar="CUE=WEIGHT")
    parser.add_argument("--fit", action="store_true", help="fix the threshold at BPCER 5 %% on DevTrain images first")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "liveness.md")
    args = parser.parse_args()
    for item in args.weights:
        cue, _, weight = item.partition("=")
        if cue not in CUE_WEIGHTS:
            parser.error(f"no cue {cue!r}; the cues are {', '.join(CUE_WEIGHTS)}")
        CUE_WEIGHTS[cue] = float(weight)
    models = FaceDetector(use_gpu=False), FaceMeshModel(use_gpu=False), AntiSpoofModel(use_gpu=False)
    threshold = fit_threshold(args.data, models) if args.fit else args.threshold
    videos = args.data / "videos"
    celebs = sorted((args.data / "faces" / "deepface_celebs").glob("*.jpg"))
    lines = [
        "# Passive liveness on the shared clips and stills",
        "",
        f"`python bench/liveness.py {' '.join(sys.argv[1:])}`: threshold {threshold:.3f}, cue weights {CUE_WEIGHTS}.",
        "Tracks shorter than 5 frames (detector flickers) are not judged. Cue columns: share of the frames where",
        "the cue could speak on which its evidence was >= 0.5, and how many frames that was.",
        "",
        "| clip | faces | tracks | track scores | per track | per frame | cues (evidence >= 0.5) |",
        "|---|---|---|---|---|---|---|",
        *clip_rows(videos, models, threshold),
        still_row(f"deepface_celebs ({len(celebs)} photos)", still_scores(photos(celebs), models, threshold), False),
        still_row("LFW View-1 DevTest images (every 2nd)",
                  still_scores(photos(lfw_images(args.data, "pairsDevTest.txt")), models, threshold), False),
        still_row("replay clips, every 15th frame", still_scores(attack_frames(videos), models, threshold), True),
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
