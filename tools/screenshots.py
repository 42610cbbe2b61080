"""Screenshots of every tab of the real window, for docs/screenshots/ (run under a display, e.g. xvfb-run).

    xvfb-run -s "-screen 0 1920x1080x24" python tools/screenshots.py --video ../shared/data/videos/zubair_live_webcam.mov \
        --replay ../shared/data/videos/zubair_live_plus_phone_replay.mp4
    xvfb-run -s "-screen 0 1366x768x24" python tools/screenshots.py --video ... --out docs/screenshots/1366x768

The window opens at the size it chooses for a new user on that screen.

Uses a temporary LIKENESS_HOME: enrolls the person of the video from one of its frames, and Obama from a
test photo, then shows each tab with the video running as the camera, the kiosk (asking for its liveness
challenge), Settings › Integrations, and with --replay the live view of a clip where a phone replays the
person's face.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--replay", type=Path, help="a clip with a spoof: liveness.png shows how it is labelled")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (default: docs/screenshots)")
    args = parser.parse_args()
    out = args.out
    os.environ["LIKENESS_HOME"] = tempfile.mkdtemp()
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from engine.config import load_settings
    from gui.app import MainWindow, Studio

    _app = QApplication([])  # kept alive while the window exists
    studio = Studio(load_settings())
    window = MainWindow(studio, str(args.video), loop=True)
    window.show()

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    capture = cv2.VideoCapture(str(args.video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 20)
    frame = capture.read()[1]
    photo = Path(os.environ["LIKENESS_HOME"]) / "zubair.jpg"
    cv2.imwrite(str(photo), frame)
    wait(3000)
    def wait_for(condition) -> None:
        while not condition():
            wait(200)

    enroll = window.enroll
    for name, path in (("Zubair", photo), ("Barack Obama", ROOT / "tests" / "fixtures" / "faces" / "obama.jpg")):
        enroll.name.setText(name)
        enroll.add_photos([str(path)])
        wait_for(lambda: len(enroll.shots) == 1)  # the photo's face is found on the pipeline thread
        enroll.save()
        wait_for(lambda: f"Enrolled {name}" in enroll.feedback.text())
    enroll.name.setText("Zubair")
    enroll.add_photos([str(photo)])
    out.mkdir(parents=True, exist_ok=True)
    wait(4000)
    art = ROOT.parent / "shared" / "data" / "art"
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        tab = window.tabs.widget(index)
        if tab is window.verify:
            window.verify.claim.setCurrentText("Zubair")
            window.verify.verify_live()
        if tab is window.gallery_tab:
            window.gallery_tab.people.setCurrentRow(1)
        if tab is window.style_tab:  # caught while it runs: G half way, the cost curves so far
            window.settings_tab.set_value("style.size", 256)
            window.settings_tab.set_value("style.preview_every", 5)
            tab.choose_content(str(art / "tubingen.jpg"))
            tab.add_style(str(art / "starry_night.jpg"))
            tab.run()
            while len(tab.history) < 15 and not tab.run_button.isEnabled():  # enabled again: it ended
                wait(500)
        if tab is window.convnet_tab:
            tab.layer.setCurrentText("conv5_1")
            tab.start_scan()
            while tab.scan is None:
                wait(500)
        wait(1200)
        name = window.tabs.tabText(index).lower().replace(" ", "_")
        window.grab().save(str(out / f"{index + 1}_{name}.png"))
        print(f"saved {name}")
    settings = window.settings_tab
    window.tabs.setCurrentWidget(settings)
    settings.set_value("integrations.machine_name", "front-door")
    settings.ensureWidgetVisible(settings.test_event)
    wait(800)
    window.grab().save(str(out / "integrations.png"))
    window.enter_kiosk()
    wait(2500)
    window.grab().save(str(out / "kiosk.png"))
    window.leave_kiosk()
    if args.replay:
        window.tabs.setCurrentWidget(window.recognize)
        window.switch_camera(str(args.replay))
        for _ in range(300):  # until the phone's face is judged (ten frames of it), 30 s at most
            wait(100)
            faces = studio.latest.faces if studio.latest else []
            if any(f.liveness is not None and f.liveness.settled and not f.liveness.verdict.live for f in faces):
                break  # taken at once: the phone moves out of view within a second
        window.grab().save(str(out / "liveness.png"))
    window.close()


if __name__ == "__main__":
    main()
