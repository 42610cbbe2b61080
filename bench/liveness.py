"""Passive liveness on the shared live and replay clips: APCER / BPCER per clip and per cue, as markdown.

    python bench/liveness.py [--videos ../shared/data/videos] [--stills ../shared/data/faces/deepface_celebs]
                             [--threshold 0.5] [--out bench/out/liveness.md]

APCER: share of attack presentations accepted as live; BPCER: share of bona fide presentations rejected.
Each is given per face track (the CLI's verdict: mean score over the track) and per frame (the smoothed
verdict a live view shows on each frame). Labels: every face of a *_live_* clip is bona fide, every face
of a *_replay_* clip an attack, except in zubair_live_plus_phone_replay.mp4 where the person (faces
wider than 130 px) is bona fide and the face on the phone (about 100 px wide) is the attack.
Still photos of real people are bona fide single frames (only the border cue can speak on one frame).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine.faces.detect import FaceDetector  # noqa: E402
from engine.faces.landmarks import FaceMeshModel  # noqa: E402
from engine.faces.liveness import CUE_WEIGHTS, DEFAULT_THRESHOLD, assess_frames  # noqa: E402
from engine.pipeline import load_image  # noqa: E402

CLIPS = ["zubair_live_webcam.mov", "tranvanluyt_live_phone_selfie.mp4", "tranvanluyt_replay_screen.mp4",
         "zubair_live_plus_phone_replay.mp4"]
PHONE_FACE_MAX_WIDTH = 130


def is_attack(clip: str, report) -> bool:
    if clip == "zubair_live_plus_phone_replay.mp4":
        return report.mean_box[2] - report.mean_box[0] < PHONE_FACE_MAX_WIDTH
    return "_replay_" in clip


def video_frames(path: Path):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    index = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            return
        yield index, index / fps, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        index += 1


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


def clip_rows(videos: Path, detector, mesh_model, threshold: float) -> list[str]:
    rows = []
    for clip in CLIPS:
        start = time.perf_counter()
        reports, too_short = assess_frames(video_frames(videos / clip), detector, mesh_model, threshold)
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


def still_row(stills: Path, detector, threshold: float) -> str:
    paths = sorted(p for p in stills.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    rejected, faces, names = 0, 0, []
    for path in paths:
        image = load_image(path)
        reports, _ = assess_frames([(0, 0.0, image)], detector, None, threshold, min_frames=1)
        faces += len(reports)
        wrong = [r for r in reports if not r.live]
        rejected += len(wrong)
        names += [path.name] * len(wrong)
    listed = ", ".join(sorted(set(names))) or "none"
    return (f"| {stills.name}/ ({len(paths)} still photos) | bona fide | {faces} | – | BPCER {rate(rejected, faces)} | "
            f"(single frames) | rejected: {listed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "videos")
    parser.add_argument("--stills", type=Path, default=ROOT.parent / "shared" / "data" / "faces" / "deepface_celebs")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "liveness.md")
    args = parser.parse_args()
    detector, mesh_model = FaceDetector(use_gpu=False), FaceMeshModel(use_gpu=False)
    lines = [
        "# Passive liveness on the shared clips",
        "",
        f"`python bench/liveness.py --threshold {args.threshold}` (every frame; cue weights {CUE_WEIGHTS}).",
        "Tracks shorter than 5 frames (detector flickers) are not judged. Cue columns: share of the frames where",
        "the cue could speak on which its evidence was >= 0.5, and how many frames that was.",
        "",
        "| clip | faces | tracks | track scores | per track | per frame | cues (evidence >= 0.5) |",
        "|---|---|---|---|---|---|---|",
        *clip_rows(args.videos, detector, mesh_model, args.threshold),
    ]
    if args.stills.is_dir():
        lines.append(still_row(args.stills, detector, args.threshold))
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
