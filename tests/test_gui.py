"""The real window on the real pipeline, with a real webcam recording as the camera (pytest-qt, offscreen)."""
import time

import cv2
import pytest

from engine.config import load_settings
from engine.gallery import Gallery

from conftest import FIXTURES

pytest.importorskip("pytestqt")
from gui.app import MainWindow, Studio  # noqa: E402

VIDEO = FIXTURES / "videos" / "zubair_live_webcam.mov"
FACES = FIXTURES / "faces"


@pytest.fixture
def zubair_photo(tmp_path):
    """A frame of the recording, saved as a photo: the enrolment shot of the person in the video."""
    capture = cv2.VideoCapture(str(VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 20)
    ok, frame = capture.read()
    capture.release()
    assert ok
    path = tmp_path / "zubair.jpg"
    cv2.imwrite(str(path), frame)
    return str(path)


@pytest.fixture
def window(qtbot):
    studio = Studio(load_settings())
    main = MainWindow(studio, str(VIDEO), loop=True)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: studio.latest is not None, timeout=20000)
    yield main
    if main.threads[0].isRunning():
        main.close()


def enroll_photo(qtbot, window, name, photo):
    tab = window.enroll
    tab.name.setText(name)
    before = len(tab.shots)
    tab.add_photos([photo])
    qtbot.waitUntil(lambda: len(tab.shots) > before, timeout=10000)
    tab.save()
    assert f"Enrolled {name}" in tab.feedback.text()


def test_a_person_enrolled_from_one_photo_is_recognized_in_the_video(qtbot, window, zubair_photo):
    enroll_photo(qtbot, window, "Zubair", zubair_photo)
    qtbot.waitUntil(lambda: any(e[1] == "Zubair" for e in window.recognize.entries), timeout=20000)
    qtbot.waitUntil(lambda: any(f.match and f.match.name == "Zubair" for f in window.view.faces), timeout=5000)
    assert window.recognize.decision.text() == "Zubair"
    assert "1 people enrolled" in window.gallery_size.text()


def test_a_stranger_is_not_recognized(qtbot, window):
    enroll_photo(qtbot, window, "Obama", str(FACES / "obama.jpg"))
    qtbot.waitUntil(lambda: any(e[1] == "not recognized" for e in window.recognize.entries), timeout=20000)
    assert not any(e[1] == "Obama" for e in window.recognize.entries)


def test_verify_accepts_the_right_claim_and_rejects_a_wrong_one(qtbot, window, zubair_photo):
    enroll_photo(qtbot, window, "Zubair", zubair_photo)
    enroll_photo(qtbot, window, "Obama", str(FACES / "obama.jpg"))
    verify = window.verify
    qtbot.waitUntil(lambda: bool(window.studio.latest and window.studio.latest.faces), timeout=10000)
    verify.claim.setCurrentText("Zubair")
    verify.verify_live()
    assert "Same person: Zubair" in verify.verdict.text()
    verify.claim.setCurrentText("Obama")
    verify.verify_live()
    assert "Not Obama" in verify.verdict.text()
    verify.verify_photo(str(FACES / "obama2.jpg"))
    qtbot.waitUntil(lambda: "Same person: Obama" in verify.verdict.text(), timeout=10000)


def test_settings_survive_a_restart(qtbot, window):
    window.settings_tab.set_value("recognition.tau", 0.36)
    window.settings_tab.set_value("kiosk.frames_to_decide", 5)
    assert window.studio.settings.recognition.tau == 0.36
    window.close()
    again = load_settings()
    assert again.recognition.tau == 0.36 and again.kiosk.frames_to_decide == 5
    window.settings_tab.set_value("recognition.tau", 7.0)
    assert "at most 1.5" in window.settings_tab.problem.text()


def test_deleting_a_person_removes_them_from_the_gallery_file(qtbot, window, zubair_photo):
    enroll_photo(qtbot, window, "Zubair", zubair_photo)
    tab = window.gallery_tab
    assert tab.people.count() == 1
    tab.people.setCurrentRow(0)
    tab.delete(confirm=False)
    assert tab.people.count() == 0
    other = Gallery(window.studio.gallery_path, window.studio.gallery.encoder_id)
    assert other.people() == []
    raw = b"".join(p.read_bytes() for p in window.studio.gallery_path.parent.glob("gallery.sqlite*"))
    assert b"Zubair" not in raw


def test_closing_stops_every_thread_within_a_second(qtbot, window):
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 1.0
    assert not any(thread.isRunning() for thread in window.threads)


def test_no_camera_says_so_and_photos_still_work(qtbot, tmp_path):
    studio = Studio(load_settings())
    main = MainWindow(studio, str(tmp_path / "no_such_camera.mp4"), loop=True)
    qtbot.addWidget(main)
    qtbot.waitUntil(lambda: "Retrying" in main.view.message, timeout=5000)
    assert "Photos from disk still work" in main.view.message
    enroll_photo(qtbot, main, "Obama", str(FACES / "obama.jpg"))
    main.close()
