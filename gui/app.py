"""The Likeness window: the live camera on the left, the tabs on the right, a status bar below.

`python main.py [--source S] [--once] [--kiosk] [--home DIR]`
"""
from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any, cast

from PySide6.QtCore import QObject, QSettings, QSize, Qt, QThread, QtMsgType, Signal, qInstallMessageHandler
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QInputDialog, QLabel, QLineEdit, QMainWindow, QMessageBox, QSplitter, QTabWidget,
)

from engine.config import Settings, config_dir, keep_library_caches_private, load_settings_with_warnings, save_settings
from engine.errors import LikenessError
from engine.faces.encoders import stronger_encoder, with_encoder
from engine.gallery import GalleryBase
from engine.logs import start_logging
from engine.recognizer import Recognizer, gallery_for, liveness_mode, names_new_gallery

from .widgets.camera_view import CameraView
from .wording import count
from .workers import BackgroundTasks, CameraWorker, Mailbox, PipelineResult, PipelineWorker, start_in_thread

FRESH_SECONDS = 1.0  # an older result no longer describes what the camera sees
STALE_BOXES_SECONDS = 0.5  # boxes computed on a frame this much older than the one shown are not drawn
PIN_TRIES = 3  # wrong PINs said and asked again before the dialog gives up
SMALL_SCREEN_WIDTH = 1600  # px: below this the window opens maximized (80 % of 1366x768 is too cramped)


class Studio(QObject):
    """What the tabs share: the settings, the gallery (held once: this thread lists from it, and lends it to the
    pipeline worker's Recognizer, which sees the camera and runs the tabs' changes as jobs)."""

    settings_changed = Signal(object)
    gallery_changed = Signal()
    gallery_status = Signal(object)  # a GalleryStatus: the shared gallery's server went away or came back
    message = Signal(str)
    _gallery_news = Signal(str)  # from the gallery's own thread: "people" or "status"

    def __init__(self, settings: Settings):
        super().__init__()
        self.kiosk = False  # the kiosk has its own liveness mode
        self.problems: list[str] = []  # said in the status bar once the window is up
        self.settings, self.gallery = self._usable(settings)
        self._gallery_news.connect(self._on_gallery_news)  # queued: emitted on the gallery's thread
        self.gallery.add_listener(self._gallery_news.emit)
        self.frames_for_pipeline, self.frames_for_screen, self.results = Mailbox(), Mailbox(), Mailbox()
        self.pipeline = PipelineWorker(self._make_recognizer, self.frames_for_pipeline, self.results)
        self.latest: PipelineResult | None = None  # the newest PipelineResult painted
        self._jobs: dict[int, Callable[[Any], Any]] = {}
        self._job_ids = itertools.count()
        self.pipeline.job_done.connect(self._job_done)
        self.background = BackgroundTasks(self)

    def _usable(self, settings: Settings) -> tuple[Settings, GalleryBase]:
        """The settings and their gallery, or the nearest settings that can run: a classifier decision without a
        classifier falls back to the distance, a trained encoder moved, deleted or retrained to dlib's (said in
        the status bar)."""
        distance = settings.with_value("recognition.decision", "distance")
        candidates = ((settings, ""), (distance, "Decisions use the distance instead."),
                      (with_encoder(distance, "dlib"), "dlib's encoder is used instead, deciding by the distance."))
        first_error: LikenessError | None = None
        for candidate, change in candidates:
            try:
                Recognizer.check(candidate)
                gallery = gallery_for(candidate, keep_copy=True)
            except LikenessError as error:
                first_error = first_error or error
                continue
            if first_error is not None:
                self.problems.append(f"{first_error} {change}")
            return candidate, gallery
        assert first_error is not None  # every candidate failed
        raise first_error

    def close(self) -> None:
        """Close this thread's gallery (the pipeline thread closes its own Recognizer)."""
        self.gallery.remove_listener(self._gallery_news.emit)
        self.gallery.close()

    def _on_gallery_news(self, what: str) -> None:
        """Someone enrolled, renamed or deleted at another machine, or the gallery server left or came back."""
        if what == "people":
            self.gallery_changed.emit()
        else:
            self.gallery_status.emit(self.gallery.status())

    def fresh_result(self):
        """The newest pipeline result if it is recent enough to describe what the camera sees now and its
        embeddings come from the encoder of the gallery in use, else None."""
        latest = self.latest
        if latest is None or time.monotonic() - latest.done_at > FRESH_SECONDS:
            return None
        return latest if latest.encoder_id == self.gallery.encoder_id else None

    def _make_recognizer(self) -> Recognizer:
        """Runs on the pipeline's thread: the models and that thread's gallery connection are made there."""
        return Recognizer.from_settings(self.settings, gallery=self.gallery, liveness=self.liveness_place(),
                                        presence=True)

    def liveness_place(self) -> str:
        """Whose liveness mode applies to the camera: the kiosk's in kiosk mode, the window's otherwise."""
        return "kiosk" if self.kiosk else "window"

    def liveness_mode(self) -> str:
        """off, passive or passive+challenge: the kiosk's mode in kiosk mode, the window's otherwise."""
        return liveness_mode(self.settings, self.liveness_place())

    def update_settings(self, settings: Settings) -> None:
        """Apply and save new settings; a new encoder or gallery URL opens that gallery. LikenessError, and nothing
        changes, when they cannot run (an encoder file that cannot be loaded, a classifier decision without one, a
        gallery that cannot be opened)."""
        Recognizer.check(settings)
        new_gallery = names_new_gallery(self.settings, settings)
        gallery = gallery_for(settings, keep_copy=True) if new_gallery else self.gallery
        self.settings = settings
        if new_gallery:  # the pipeline closes the old one once it has switched (it may be reading it now)
            self.gallery.remove_listener(self._gallery_news.emit)
            self.gallery = gallery
            gallery.add_listener(self._gallery_news.emit)
            self.gallery_changed.emit()
            self.gallery_status.emit(gallery.status())
        if kept := save_settings(settings):
            self.message.emit(f"The settings file had problems; a copy of it was kept as {kept}.")
        self._send_pipeline_settings()
        self.settings_changed.emit(settings)

    def set_kiosk(self, kiosk: bool) -> None:
        self.kiosk = kiosk
        self._send_pipeline_settings()
        self.settings_changed.emit(self.settings)

    def _send_pipeline_settings(self) -> None:
        self.pipeline.pending_settings.put((self.settings, self.liveness_place(), self.gallery))

    def verify_live(self, claim: str | None) -> None:
        """Verify the camera's face against `claim` on the pipeline thread (answers come by
        pipeline.verify_update); None cancels a running check."""
        self.pipeline.verify_requests.put((claim,))

    def run_job(self, work, on_done) -> None:
        """work(recognizer) runs on the pipeline thread; on_done(result or LikenessError) on this one."""
        job_id = next(self._job_ids)
        self._jobs[job_id] = on_done
        self.pipeline.submit(job_id, work)

    def _job_done(self, job_id, result) -> None:
        callback = self._jobs.pop(job_id, None)
        if callback is not None:
            callback(result)


class MainWindow(QMainWindow):
    camera: CameraWorker | None
    camera_thread: QThread | None
    _retired_cameras: list[tuple[CameraWorker, QThread]]

    def __init__(self, studio: Studio, source: str, loop: bool, kiosk: bool = False):
        super().__init__()
        from .tabs.convnet import ConvNetTab
        from .tabs.enroll import EnrollTab
        from .tabs.gallery import GalleryTab
        from .tabs.recognize import RecognizeTab
        from .tabs.settings import SettingsTab
        from .tabs.style import StyleTab
        from .tabs.verify import VerifyTab

        self.studio = studio
        self.setWindowTitle("Likeness")
        self.view = CameraView()
        self.tabs = QTabWidget()
        self.recognize, self.enroll = RecognizeTab(studio), EnrollTab(studio)
        self.verify, self.gallery_tab = VerifyTab(studio), GalleryTab(studio)
        self.style_tab, self.convnet_tab = StyleTab(studio), ConvNetTab(studio)
        self.settings_tab = SettingsTab(studio)
        for tab, title in ((self.recognize, "Recognize"), (self.enroll, "Enroll"), (self.verify, "Verify"),
                           (self.gallery_tab, "Gallery"), (self.style_tab, "Style"), (self.convnet_tab, "ConvNet"),
                           (self.settings_tab, "Settings")):
            self.tabs.addTab(tab, title)
        self.gallery_tab.add_shots_requested.connect(self._add_shots_for)
        self.splitter = QSplitter()
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.setCentralWidget(self.splitter)
        self._build_status_bar()
        self._build_menus()
        studio.settings_changed.connect(self._settings_changed)
        self._start_workers(source, loop)
        self.window_state = QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)
        self._restore_window()
        self.kiosk = False
        if kiosk:
            self.enter_kiosk()

    # --- workers and painting -------------------------------------------------------------------
    def _start_workers(self, source: str, loop: bool) -> None:
        studio = self.studio
        self.loop, self.camera, self.camera_thread, self._retired_cameras = loop, None, None, []
        self.shown_frame, self.camera_setting = None, studio.settings.camera.source
        studio.pipeline.fps.connect(self._show_pipeline_fps)
        studio.pipeline.ready.connect(self._show_provider)
        studio.pipeline.failed.connect(self._pipeline_failed)
        studio.pipeline.new_result.connect(self._paint_newest)
        studio.pipeline.announced.connect(self.recognize.log_visit)
        studio.pipeline.verify_update.connect(self.verify.show_update)
        studio.pipeline.message.connect(studio.message)
        self.pipeline_thread = start_in_thread(studio.pipeline, "pipeline")
        self.switch_camera(source)

    @property
    def threads(self) -> list:
        """Every thread this window started that may still run (camera first)."""
        cameras = [self.camera_thread] + [thread for _, thread in self._retired_cameras]
        long_work = [tab.thread for tab in (self.style_tab, self.convnet_tab) if tab.thread is not None]
        return cameras + [self.pipeline_thread] + long_work + self.studio.background.threads()

    def switch_camera(self, source: str) -> None:
        """Read from another source; the old reader stops on its own thread (opening a webcam may be slow)."""
        if self.camera is not None:
            assert self.camera_thread is not None  # started with the camera
            self.camera.stop()
            self._retired_cameras = [(w, t) for w, t in self._retired_cameras if not t.isFinished()]
            self._retired_cameras.append((self.camera, self.camera_thread))
        self.source = source
        self.camera = CameraWorker(source, self.loop, self.studio.frames_for_pipeline, self.studio.frames_for_screen)
        self.camera.status.connect(self._camera_status)
        self.camera.lost.connect(self._camera_lost)
        self.camera.ended.connect(self._camera_lost)
        self.camera.fps.connect(self._show_camera_fps)
        self.camera.new_frame.connect(self._paint_newest)
        self.camera_thread = start_in_thread(self.camera, "camera")
        self.settings_tab.show_camera_in_use(source)

    def _settings_changed(self, settings: Settings) -> None:
        # Only a change of the camera setting itself switches: --source may differ from the saved setting.
        if settings.camera.source != self.camera_setting:
            self.camera_setting = settings.camera.source
            self.switch_camera(settings.camera.source)

    def _paint_newest(self) -> None:
        frame = self.studio.frames_for_screen.take()
        result = self.studio.results.take()
        if frame is None and self.shown_frame is None:
            return  # a result of a camera that has gone since: nothing it describes is on screen
        if result is not None:
            self.studio.latest = result
            self.recognize.on_result(result)
            self.view.banner = self._banner()
        if frame is not None:
            self.view.show_frame(frame.image, self._faces_for(frame))
            self.shown_frame = frame
        elif result is not None and self.shown_frame is not None:
            self.view.show_faces(self._faces_for(self.shown_frame))  # new boxes at once, not with the next frame

    def _banner(self) -> str:
        """The big line on the live view: the kiosk's decision or prompt, or the prompt of the tab in use."""
        if self.kiosk:
            return self.recognize.headline
        tab = self.tabs.currentWidget()
        return self.recognize.prompt if tab is self.recognize else self.verify.prompt if tab is self.verify else ""

    def _faces_for(self, frame) -> list:
        """The newest boxes, unless they were computed on a frame too old to match the one shown."""
        latest = self.studio.latest
        fresh = latest is not None and frame.timestamp - latest.frame.timestamp < STALE_BOXES_SECONDS
        return list(latest.identify.decisions) if fresh and latest is not None else []

    # Slots for the workers' signals: bound methods, so that Qt runs them on this (the UI) thread.
    def _camera_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def _camera_lost(self, text: str) -> None:
        if self.sender() is not self.camera:
            return  # a camera we already switched away from
        self.camera_fps.setText("camera –")
        self.pipeline_fps.setText("pipeline –")
        self.studio.latest, self.shown_frame = None, None  # what the camera saw no longer describes anything
        self.view.camera_gone(text + "\nPhotos from disk still work: see the Enroll and Verify tabs.")

    def _show_camera_fps(self, fps: float) -> None:
        if self.sender() is self.camera:
            self.camera_fps.setText(f"camera {fps:.0f} fps")

    def _show_pipeline_fps(self, fps: float) -> None:
        if self.shown_frame is not None:  # not after the camera has gone
            self.pipeline_fps.setText(f"pipeline {fps:.0f} fps")

    def _show_provider(self, report: str) -> None:
        self.provider.setText(f"encoder on {report}")

    def _pipeline_failed(self, text: str) -> None:
        self.view.show_message(text)
        self.statusBar().showMessage(text)

    # --- chrome -------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.camera_fps, self.pipeline_fps = QLabel("camera –"), QLabel("pipeline –")
        self.provider, self.gallery_size = QLabel("loading models…"), QLabel()
        self.gallery_state = QLabel()  # shown while a shared gallery's server cannot be reached
        self.gallery_state.setStyleSheet("color: #e67e22")
        for label in (self.gallery_state, self.camera_fps, self.pipeline_fps, self.provider, self.gallery_size):
            self.statusBar().addPermanentWidget(label)
        self.studio.gallery_changed.connect(self._count_people)
        self.studio.gallery_status.connect(self._show_gallery_status)
        self._show_gallery_status(self.studio.gallery.status())
        self.studio.message.connect(lambda text: self.statusBar().showMessage(text, 8000))  # emitted on this thread
        self._count_people()
        for problem in self.studio.problems:
            self.statusBar().showMessage(problem)

    def _show_gallery_status(self, status) -> None:
        self.gallery_state.setText("" if status.online else str(status))
        self.gallery_state.setVisible(not status.online)

    def _count_people(self) -> None:
        self.gallery_size.setText(f"{count(len(self.studio.gallery.names()), 'person')} enrolled")

    def _build_menus(self) -> None:
        self.menu_actions: list[QAction] = []
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Add photos of a person…", QKeySequence.StandardKey.Open, self._add_photos)
        self._action(file_menu, "&Export gallery…", "Ctrl+E", self.gallery_tab.export_gallery)
        self._action(file_menu, "&Import gallery…", "Ctrl+I", self.gallery_tab.import_gallery)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)
        view_menu = self.menuBar().addMenu("&View")
        self._action(view_menu, "&Full screen", QKeySequence.StandardKey.FullScreen, self._toggle_full_screen)
        self._action(view_menu, "&Kiosk mode", "Ctrl+K", self.enter_kiosk)
        view_menu.addSeparator()
        for number in range(self.tabs.count()):
            self._action(view_menu, self.tabs.tabText(number), f"Ctrl+{number + 1}",
                         lambda checked=False, n=number: self.tabs.setCurrentIndex(n))
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About Likeness", None, self._about)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self)
        self.menu_actions.append(action)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _add_photos(self) -> None:
        self.tabs.setCurrentWidget(self.enroll)
        self.enroll.add_photos()

    def _add_shots_for(self, name: str) -> None:
        self.tabs.setCurrentWidget(self.enroll)
        self.enroll.name.setText(name)

    def _toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _about(self) -> None:
        QMessageBox.about(self, "About Likeness",
                          "Likeness: one-shot face recognition and neural style transfer, on this machine only.\n"
                          f"Your gallery: {self.studio.gallery.status().where}")

    # --- kiosk --------------------------------------------------------------------------------
    def enter_kiosk(self) -> None:
        """Full screen recognition; the tabs, the menus and their shortcuts are gone until the PIN is given."""
        self.kiosk = True
        self.studio.set_kiosk(True)
        self.tabs.setCurrentWidget(self.recognize)
        self.tabs.hide()
        self.menuBar().hide()
        for action in self.menu_actions:
            action.setEnabled(False)
        self.showFullScreen()

    def leave_kiosk(self) -> None:
        self.kiosk = False
        self.studio.set_kiosk(False)
        self.view.banner = ""
        self.tabs.show()
        self.menuBar().show()
        for action in self.menu_actions:
            action.setEnabled(True)
        self.showNormal()

    def ask_pin(self, why: str) -> bool:
        """True once the kiosk PIN is given; a wrong one is said and asked again, PIN_TRIES times at most."""
        label = "PIN:"
        for tries_left in range(PIN_TRIES - 1, -1, -1):
            pin, ok = QInputDialog.getText(self, why, label, QLineEdit.EchoMode.Password)
            if not ok:
                return False
            if self.studio.settings.kiosk.unlocks(pin):
                return True
            label = f"Wrong PIN. Try again ({count(tries_left, 'try')} left):"
        self.statusBar().showMessage("Wrong PIN: Likeness stays in kiosk mode.", 8000)
        return False

    def keyPressEvent(self, event) -> None:
        if self.kiosk and event.key() == Qt.Key.Key_Escape:
            if self.ask_pin("Leave kiosk mode"):
                self.leave_kiosk()
            return
        super().keyPressEvent(event)

    # --- window state and shutdown ---------------------------------------------------------------
    def _restore_window(self) -> None:
        saved = self.window_state.value("size", None)
        self.resize(cast(QSize, saved or self._first_size()))
        screen = self.screen()
        if not saved and screen is not None and screen.availableGeometry().width() < SMALL_SCREEN_WIDTH:
            self.setWindowState(Qt.WindowState.WindowMaximized)  # a laptop's 1366x768 needs all of it
        self.splitter.setSizes([3 * self.width() // 5, 2 * self.width() // 5])  # the camera view dominates
        self.tabs.setCurrentIndex(int(cast(str | int, self.window_state.value("tab", 0))))  # text in the .ini file

    def _first_size(self):
        """80 % of the screen the window opens on (the camera view takes 3/5 of the width), all of a small
        screen, never below what the widgets need."""
        screen = self.screen()
        if screen is None:
            return self.size().expandedTo(self.minimumSizeHint())
        available = screen.availableGeometry().size()
        share = 1.0 if available.width() < SMALL_SCREEN_WIDTH else 0.8
        return (available * share).expandedTo(self.minimumSizeHint())

    def closeEvent(self, event) -> None:
        # In kiosk mode the person in front of the screen needs the PIN to close (Alt+F4, the window's X);
        # the program's own close() is not spontaneous and passes (the Quit action is disabled meanwhile).
        if self.kiosk and event.spontaneous() and not self.ask_pin("Close Likeness"):
            event.ignore()
            return
        self.window_state.setValue("size", self.normalGeometry().size() if self.isFullScreen() else self.size())
        self.window_state.setValue("tab", self.tabs.currentIndex())
        self.window_state.sync()
        self.stop_workers()
        super().closeEvent(event)

    def stop_workers(self) -> None:
        """Stop every thread; each checks its stop flag at least once per frame (a style transfer or a ConvNet
        scan once per iteration or image, which may take longer than the second the others get)."""
        self.studio.pipeline.stop()
        assert self.camera is not None  # switch_camera() made one in __init__
        for worker in [self.camera] + [worker for worker, _ in self._retired_cameras]:
            worker.stop()
        self.style_tab.cancel()
        self.convnet_tab.cancel()
        deadline = time.monotonic() + 1.0
        for thread in self.threads:
            thread.quit()
            thread.wait(max(1, int(1000 * (deadline - time.monotonic()))))
        # As it ends, the pipeline thread closes its Recognizer (a gallery server's connections, the outbox's
        # last "offline" on MQTT) or finishes loading the models: that may take longer than the second the
        # others get, and Qt aborts the process if a running QThread is destroyed.
        self.pipeline_thread.wait()
        for tab in (self.style_tab, self.convnet_tab):
            if tab.thread is not None:
                tab.thread.wait()  # Qt aborts the process if a running QThread is destroyed
        self.studio.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python main.py", description="Open the Likeness window.")
    parser.add_argument("--source", help="webcam index, video file, image folder, or rtsp:// or http(s):// stream "
                                         "(default: the settings' camera)")
    parser.add_argument("--once", action="store_true", help="play a video file once instead of looping")
    parser.add_argument("--kiosk", action="store_true", help="full screen recognition; Esc and the PIN leave it")
    parser.add_argument("--home", help="keep settings and gallery under this folder (sets LIKENESS_HOME)")
    return parser.parse_args(argv)


def display_problem() -> str | None:
    """Why Qt cannot open a window here, in one sentence; None when it can, as far as can be told beforehand
    (Qt itself would abort the process with a message about reinstalling)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform not in ("", "xcb", "wayland"):
        return None  # macOS, Windows, or a platform chosen on purpose (offscreen, vnc …)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return ("No display was found (neither DISPLAY nor WAYLAND_DISPLAY is set): start Likeness from a desktop "
                "session, or use the command line (python main.py --help).")
    if platform == "wayland" or (not platform and os.environ.get("WAYLAND_DISPLAY")):
        return None
    from PySide6.QtCore import QLibraryInfo

    plugin = os.path.join(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), "platforms", "libqxcb.so")
    try:
        ctypes.CDLL(plugin, mode=os.RTLD_LAZY)
    except OSError as error:  # "libxcb-cursor.so.0: cannot open shared object file: ..."
        missing = str(error).split(":")[0].strip()
        package = re.sub(r"\.so\.(\d+).*", r"\1", os.path.basename(missing))
        return (f"Qt cannot use the display: its X11 platform plugin needs {missing}, which is not installed "
                f"(on Debian or Ubuntu: apt-get install {package}).")
    return None


class _StartupMessages:
    """Qt's messages while the window opens: a fatal one (a display that cannot be opened, a platform plugin
    that cannot load) ends the program with one sentence and exit code 2 instead of an abort; the others are
    printed once the application exists."""

    def __init__(self):
        self.said: list[str] = []

    def __call__(self, kind, context, message: str) -> None:
        if kind != QtMsgType.QtFatalMsg:
            self.said.append(message)
            return
        everything = "\n".join([*self.said, message])
        if found := re.search(r"could not connect to display (\S*)", everything):
            sentence = (f"The display {found.group(1) or os.environ.get('DISPLAY', '')} cannot be opened: is its "
                        "X server running, and may this user use it?")
        else:
            sentence = f"Qt cannot open a window here: {(self.said or [message])[0].strip()}"
        print(sentence, file=sys.stderr)
        sys.stderr.flush()
        os._exit(2)


def run_app(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.home:
        os.environ["LIKENESS_HOME"] = args.home
    keep_library_caches_private()  # before the first tab imports matplotlib
    start_logging()
    if QApplication.instance() is None and (problem := display_problem()):
        print(problem, file=sys.stderr)
        return 2
    startup = _StartupMessages()
    previous = qInstallMessageHandler(startup)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    qInstallMessageHandler(previous)
    for message in startup.said:
        print(message, file=sys.stderr)
    app.setApplicationName("Likeness")
    try:
        settings, settings_problems = load_settings_with_warnings()
        studio = Studio(settings)
        if settings_problems:
            studio.problems.append(" ".join(settings_problems))
        if notice := stronger_encoder(studio.settings.recognition.encoder):
            studio.problems.append(notice)
    except LikenessError as error:
        QMessageBox.critical(None, "Likeness", str(error))
        return 2
    window = MainWindow(studio, args.source or settings.camera.source, loop=not args.once, kiosk=args.kiosk)
    window.show()
    status = app.exec()
    studio.background.wait(5000)  # a webcam probe may outlive the window; Qt aborts if a running QThread is freed
    return status
