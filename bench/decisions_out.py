"""What publishing decisions costs the kiosk: frames/s of the kiosk's loop (observe, decide, record) on real clips
with no integration, with MQTT and a webhook that answer, and with MQTT and a webhook that hangs; and the delay
from a decision to the MQTT subscriber and to the webhook receiver.

    python bench/decisions_out.py [--clips A.mp4 B.mp4] [--rounds 2]

Starts its own mosquitto on a free loopback port (Debian package `mosquitto`) and an HTTP receiver; the
configurations alternate over the rounds so that a busy machine slows them alike. Progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from engine.config import IntegrationsSettings, LivenessSettings, RecognitionSettings, Settings  # noqa: E402
from engine.images import video_frames  # noqa: E402
from engine.streams import IdentifyStream  # noqa: E402
from engine.recognizer import Recognizer  # noqa: E402
from mqtt_broker import Broker, Listener, Receiver  # noqa: E402  (the tests' real broker and receiver)

CLIPS = [ROOT / "tests/fixtures/liveness/tranvanluyt_live_phone_selfie_6s.mp4",
         ROOT / "tests/fixtures/liveness/tranvanluyt_replay_screen_6s.mp4"]
CONFIGURATIONS = ("no integration", "MQTT + webhook", "MQTT + hanging webhook")


def settings_for(configuration: str, broker: Broker, answering: Receiver, hanging: Receiver) -> Settings:
    integrations = IntegrationsSettings(machine_name="bench")
    if configuration != "no integration":
        webhook = answering if configuration == "MQTT + webhook" else hanging
        integrations = IntegrationsSettings(machine_name="bench", mqtt_url=broker.url, webhook_url=webhook.url,
                                            webhook_timeout=0.5)
    return Settings(recognition=RecognitionSettings(use_gpu=False), liveness=LivenessSettings(kiosk_mode="passive"),
                    integrations=integrations)


def kiosk_loop(recognizer: Recognizer, frames: list[tuple[float, np.ndarray]]) -> tuple[float, float]:
    """(frames/s, the share of the loop's time spent recording decisions: the log line and the event out)."""
    stream = IdentifyStream(liveness="passive", frames_to_decide=3, cooldown=1.0)
    recording, started = 0.0, time.perf_counter()
    for timestamp, image in frames:
        faces = recognizer.observe(image, timestamp=timestamp)
        for decision in stream.update(faces, timestamp).announced:
            before = time.perf_counter()
            recognizer.announce(decision, "kiosk")
            recording += time.perf_counter() - before
    whole = time.perf_counter() - started
    return len(frames) / whole, recording / whole


def decoded(clips: list[Path]) -> list[tuple[float, np.ndarray]]:
    """Every frame of the clips one after the other (decoded once: decoding is not what is measured)."""
    frames, offset = [], 0.0
    for clip in clips:
        clip_frames = [(offset + t, image) for _, t, image in video_frames(clip)]
        frames += clip_frames
        offset = clip_frames[-1][0] + 10.0
    return frames


def delays_ms(listener: Listener, receiver: Receiver) -> tuple[list[float], list[float]]:
    """Milliseconds from each decision's time to its arrival at the subscriber and at the receiver."""
    def since(body: bytes, arrived: float) -> float:
        return 1000 * (arrived - datetime.fromisoformat(json.loads(body)["time"]).timestamp())

    mqtt = [since(payload, arrived) for (topic, payload, _), arrived in zip(list(listener.messages), listener.arrivals)
            if "/status" not in topic]
    webhook = [since(body, arrived) for (_, body), arrived in zip(list(receiver.requests), receiver.arrivals)]
    return mqtt, webhook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=Path, nargs="+", default=CLIPS)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    os.environ["LIKENESS_HOME"] = str(home)
    os.environ["LIKENESS_WEBHOOK_SECRET"] = "bench-secret"  # signed, as a door controller wants them
    broker_folder = home / "broker"
    broker_folder.mkdir()
    broker = Broker(broker_folder)
    broker.start()
    answering, hanging = Receiver(), Receiver(answers=["hang"] * 10_000)
    listener = Listener(broker.port)
    frames = decoded(args.clips)
    enroll_image = frames[0][1]
    rates: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    shares: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    try:
        for round_number in range(args.rounds):
            for configuration in CONFIGURATIONS:
                print(f"round {round_number + 1}/{args.rounds}: {configuration}", file=sys.stderr)
                settings = settings_for(configuration, broker, answering, hanging)
                recognizer = Recognizer.from_settings(settings, gallery=home / f"{len(rates[configuration])}.sqlite",
                                                      liveness="kiosk")
                recognizer.enroll("Luyt", [recognizer.find_face(enroll_image).face], ["first frame"])
                kiosk_loop(recognizer, frames[:20])  # warm-up
                fps, share = kiosk_loop(recognizer, frames)
                rates[configuration].append(fps)
                shares[configuration].append(share)
                recognizer.close(deliver_seconds=3 if configuration == "MQTT + webhook" else 0)
        report(rates, shares, len(frames), *delays_ms(listener, answering))
    finally:
        listener.close()
        answering.close()
        hanging.close()
        broker.stop()


def report(rates: dict[str, list[float]], shares: dict[str, list[float]], frames: int, mqtt: list[float],
           webhook: list[float]) -> None:
    base = np.mean(rates["no integration"])
    print(f"\nkiosk loop over {frames} frames (observe with passive liveness, decide, record), this machine:")
    print("| configuration | frames/s (mean of rounds) | vs no integration | time recording decisions |")
    print("|---|---|---|---|")
    for name, values in rates.items():
        print(f"| {name} | {np.mean(values):.1f} ({', '.join(f'{v:.1f}' for v in values)}) | "
              f"{100 * (np.mean(values) / base - 1):+.1f} % | {100 * np.mean(shares[name]):.2f} % |")
    for name, values in (("MQTT subscriber", mqtt), ("webhook receiver", webhook)):
        if values:
            print(f"decision to {name}: median {np.median(values):.1f} ms, p99 {np.percentile(values, 99):.1f} ms "
                  f"({len(values)} events)")


if __name__ == "__main__":
    main()
