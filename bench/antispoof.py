"""MiniFASNet anti-spoofing (engine.faces.antispoof) on the shared clips and still photos, as markdown.

    python bench/antispoof.py [--data ../shared/data] [--lfw 300] [--out bench/out/antispoof.md]

1. Clips, every frame: the distribution of the per-frame live probability per face, with the face box reshaped
   to the authors' proportions (BOX_SHAPE) and with RetinaFace's raw box. In zubair_live_plus_phone_replay.mp4
   the person sits low in the frame (box centre y > 300 px) and the phone held beside him high (< 300 px).
2. Stills, the largest face of each image: bona fide = deepface_celebs and every k-th of LFW View-1's images;
   attacks = every 15th frame of the replay clips (the face on the laptop screen, the face on the phone).
   ISO/IEC 30107-3: APCER = share of attack presentations accepted as live (score >= t), BPCER = share of
   bona fide presentations rejected (score < t).
3. Cost per face of both models (ONNX Runtime, CPU), one thread and ONNX Runtime's default.
Also writes bench/out/antispoof_crops.png: both models' crops of a few faces, to look at.
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
from engine.faces.antispoof import BOX_SHAPE, MODELS, AntiSpoofModel, face_crops  # noqa: E402
from engine.faces.detect import FaceDetector  # noqa: E402
from engine.images import load_image, video_frames  # noqa: E402
from engine.runtime import model_path, onnx_session  # noqa: E402

CLIPS = ["tranvanluyt_live_phone_selfie.mp4", "tranvanluyt_replay_screen.mp4", "zubair_live_webcam.mov",
         "zubair_live_plus_phone_replay.mp4"]
PERSON_BELOW_Y = 300  # zubair_live_plus_phone_replay.mp4: the person's face centre is at y ~345, the phone's at 190-280
ATTACK_STILL_EVERY = 15
THRESHOLDS = (0.3, 0.5, 0.7)
RAW_BOX = (1.0, 1.0)


def face_label(clip: str, box: np.ndarray) -> str:
    if clip == "zubair_live_plus_phone_replay.mp4":
        return "person (live)" if (box[1] + box[3]) / 2 > PERSON_BELOW_Y else "phone (attack)"
    return "live" if "_live_" in clip else "screen (attack)"


def distribution(scores: list[float]) -> str:
    s = np.asarray(scores)
    p5, median, p95 = np.percentile(s, [5, 50, 95])
    return f"{len(s)} | {median:.3f} | {p5:.3f} | {p95:.3f} | {np.mean(s < 0.5):.1%}"


def clip_rows(videos: Path, detector, model, attack_stills: list, crops_to_show: list) -> list[str]:
    rows = []
    for clip in CLIPS:
        scores: dict[tuple[str, str], list[float]] = {}
        for index, _, image in video_frames(videos / clip):
            for detection in detector.detect(image):
                label = face_label(clip, detection.box)
                for shape_name, shape in (("reshaped", BOX_SHAPE), ("raw", RAW_BOX)):
                    score = float(model.live_scores(image, [detection], shape)[0])
                    scores.setdefault((label, shape_name), []).append(score)
                if index % ATTACK_STILL_EVERY == 0 and "attack" in label:
                    attack_stills.append((image, detection))
                if index in (0, 120):
                    crops_to_show.append((image, detection, scores[(label, "reshaped")][-1]))
        for (label, shape_name), values in scores.items():
            rows.append(f"| {clip} | {label} | {shape_name} | {distribution(values)} |")
        print(f"{clip}: done", file=sys.stderr)
    return rows


def still_scores(paths: list[Path], detector, model) -> np.ndarray:
    scores = []
    for path in paths:
        image = load_image(path)
        faces = detector.detect(image)
        if faces:
            scores.append(model.live_scores(image, [max(faces, key=lambda d: d.area)])[0])
    return np.asarray(scores)


def error_rows(name: str, scores: np.ndarray, attack: bool) -> str:
    metric = "APCER" if attack else "BPCER"
    rates = [np.mean(scores >= t) if attack else np.mean(scores < t) for t in THRESHOLDS]
    cells = " | ".join(f"{metric} {r:.1%}" for r in rates)
    return f"| {name} | {len(scores)} | {np.median(scores):.3f} | {cells} |"


def timed_ms(run, repeats: int = 200) -> tuple[float, float]:
    """Median and 90th percentile of the wall time of run(), in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 90))


def cost_rows(model: AntiSpoofModel, image: np.ndarray, detection) -> list[str]:
    """ms per face for both models together: sessions alone (1 face, a batch of 4), then live_scores whole."""
    rows = []
    for threads in (1, None):
        sessions = [onnx_session(model_path(name), False, intra_op_threads=threads)[0] for name, _ in MODELS]
        for batch in (1, 4):
            inputs = [np.repeat(face_crops(image, [detection.box], scale), batch, axis=0) for _, scale in MODELS]
            median, p90 = timed_ms(lambda: [s.run(None, {"bgr": x}) for s, x in zip(sessions, inputs)])
            rows.append(f"| {threads or 'default (one per core)'} | sessions only | {batch} | {median / batch:.2f} | "
                        f"{p90 / batch:.2f} |")
    median, p90 = timed_ms(lambda: model.live_scores(image, [detection]))
    rows.append(f"| 1 | live_scores (crops + both models) | 1 | {median:.2f} | {p90:.2f} |")
    return rows


def save_crops(items: list, out: Path) -> None:
    tiles = []
    for image, detection, score in items[:8]:
        pair = [face_crops(image, [detection.box], scale)[0].transpose(1, 2, 0) for _, scale in MODELS]
        tile = cv2.resize(np.hstack(pair).astype(np.uint8), None, fx=2, fy=2)  # BGR, as cv2.imwrite wants
        cv2.putText(tile, f"{score:.2f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1)
        tiles.append(tile)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 2)
    cv2.imwrite(str(out), np.vstack([np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--lfw", type=int, default=300, help="how many LFW View-1 images (evenly spaced)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "antispoof.md")
    args = parser.parse_args()
    detector, model = FaceDetector(use_gpu=False), AntiSpoofModel(use_gpu=False)
    attack_stills, crops_to_show = [], []
    clips = clip_rows(args.data / "videos", detector, model, attack_stills, crops_to_show)

    celebs = sorted((args.data / "faces" / "deepface_celebs").glob("*.jpg"))
    lfw_all = sorted((args.data / "faces" / "lfw-view1" / "images").glob("*/*.jpg"))
    lfw = lfw_all[::max(1, len(lfw_all) // args.lfw)][:args.lfw]
    celeb_scores, lfw_scores = still_scores(celebs, detector, model), still_scores(lfw, detector, model)
    attack_scores = np.array([model.live_scores(image, [d])[0] for image, d in attack_stills])
    header = " | ".join(f"t = {t}" for t in THRESHOLDS)
    lines = [
        "# MiniFASNet anti-spoofing on the shared data",
        "",
        f"`python bench/antispoof.py` — live probability per face (summed softmax of both models, class live, / 2); "
        f"box shape {BOX_SHAPE} (width, height factors) vs RetinaFace's raw box.",
        "",
        "## Clips, every frame",
        "",
        "| clip | face | box | frames | median | 5th pct | 95th pct | share < 0.5 |",
        "|---|---|---|---|---|---|---|---|",
        *clips,
        "",
        f"## Stills (largest face per image); attacks: every {ATTACK_STILL_EVERY}th frame of the replay clips",
        "",
        f"| set | faces | median | {header} |",
        "|---|---|---|---|---|---|",
        error_rows("bona fide: deepface_celebs", celeb_scores, False),
        error_rows(f"bona fide: LFW View-1 (every {len(lfw_all) // args.lfw}th image)", lfw_scores, False),
        error_rows("bona fide: both", np.concatenate([celeb_scores, lfw_scores]), False),
        error_rows("attack: replay frames (screen + phone)", attack_scores, True),
        "",
        "## Cost per face, both models (ONNX Runtime CPU provider, ms)",
        "",
        "| intra-op threads | what | faces per run | median | 90th pct |",
        "|---|---|---|---|---|",
        *cost_rows(model, *crops_to_show[0][:2]),
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    save_crops(crops_to_show, args.out.with_name("antispoof_crops.png"))
    print(text)


if __name__ == "__main__":
    main()
