"""Is the window responsive while the pipeline runs? Event-loop stalls and overlay lag of the real window.

    python bench/gui_latency.py --video ../shared/data/videos/zubair_live_webcam.mov [--seconds 20]

- stall: how late a 10 ms timer on the UI thread fires (the UI thread blocked for that long);
- overlay lag: from the moment the camera read a frame to the moment the boxes computed on that frame
  are painted on screen.
Runs offscreen (QT_QPA_PLATFORM=offscreen unless a display is set) with a temporary LIKENESS_HOME and one
person enrolled from a frame of the video, so matching is part of the path.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
TICK_MS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    os.environ["LIKENESS_HOME"] = tempfile.mkdtemp()
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from engine.config import load_settings
    from engine.recognizer import Recognizer
    from gui.app import MainWindow, Studio

    load_before = os.getloadavg()
    app = QApplication([])
    studio = Studio(load_settings())
    enroll_first_frame(args.video, Recognizer.from_settings(studio.settings))
    window = MainWindow(studio, str(args.video), loop=True)
    window.resize(1280, 720)
    window.show()

    ticks, lags, shown = [], [], {"result": None}
    paint = window.view.paintEvent

    def measured_paint(event):
        paint(event)
        result = studio.latest
        if result is not None and result is not shown["result"]:
            shown["result"] = result
            painted = time.monotonic()
            lags.append(1000 * np.array([painted - result.frame.timestamp, result.started_at - result.frame.timestamp,
                                         result.done_at - result.started_at, painted - result.done_at]))

    window.view.paintEvent = measured_paint
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(TICK_MS)
    QTimer.singleShot(int(1000 * args.seconds), app.quit)
    app.exec()
    window.close()
    report(np.diff(ticks) * 1000 - TICK_MS, np.array(lags[5:]).reshape(-1, 4),
           window.camera_fps.text(), window.pipeline_fps.text())
    print(f"load average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(other work on the machine raises both figures)")


def enroll_first_frame(video: Path, recognizer) -> None:
    from engine.images import video_frames

    _, _, frame = next(video_frames(video))
    recognizer.enroll("person in the video", [recognizer.find_face(frame).face], ["bench"])
    recognizer.close()


def report(stalls: np.ndarray, lags: np.ndarray, camera: str, pipeline: str) -> None:
    print(f"{camera}, {pipeline}; {len(stalls)} timer ticks, {len(lags)} overlays painted")
    print("| measure | median | p99 | max |\n|---|---|---|---|")
    row("UI thread stall (ms)", stalls)
    names = ("overlay lag (ms)", "- frame waits for the pipeline",
             "- the pipeline (detect, align, encode, match, liveness)", "- to the screen")
    for name, column in zip(names, lags.T):
        row(name, column)


def row(name: str, values: np.ndarray) -> None:
    print(f"| {name} | {np.median(values):.1f} | {np.percentile(values, 99):.1f} | {values.max():.1f} |")


if __name__ == "__main__":
    main()
