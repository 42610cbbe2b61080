"""Style: paint a content image in the style of one or more paintings, watching G change as it is optimised."""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QProgressBar, QPushButton, QVBoxLayout, QWidget,
)

from engine.errors import LikenessError
from engine.images import load_image
from engine.style.transfer import StyleTransfer, estimate_memory, save_png_with_recipe

from ..dialogs import open_image, save_file
from ..thumbnails import chip_pixmap
from ..widgets.inputs import IntBox, WheelGuard
from ..workers import as_likeness_error

PREVIEW_PX = 360


class StyleWorker(QObject):
    """Runs one optimisation on its own thread; progress and the result come back as signals."""

    progress = Signal(object)  # StyleProgress
    finished = Signal(object)  # the result (uint8 RGB) or a LikenessError

    def __init__(self, settings, content, styles, weights):
        super().__init__()
        self.settings, self.content, self.styles, self.weights = settings, content, styles, weights
        self.cancelled = threading.Event()
        self.transfer: StyleTransfer | None = None

    def run(self) -> None:
        try:
            self.transfer = StyleTransfer(self.settings)
            result = self.transfer.run(self.content, self.styles, self.weights, on_progress=self.progress.emit,
                                       should_stop=self.cancelled.is_set)
            self.finished.emit(result)
        except Exception as error:  # out of memory, a CUDA error…: said, and the tab is usable again
            self.finished.emit(as_likeness_error(error, "transferring a style"))
        finally:
            QThread.currentThread().quit()

    def cancel(self) -> None:
        self.cancelled.set()
        if self.transfer is not None:
            self.transfer.resume.set()  # a paused loop must wake up to stop

    def pause(self, paused: bool) -> None:
        if self.transfer is not None:
            self.transfer.resume.clear() if paused else self.transfer.resume.set()


class CostPlot(QWidget):
    """J, alpha*J_content and beta*J_style against the iteration, on a log scale."""

    def __init__(self):
        super().__init__()
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 2.2), layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.axes = self.figure.add_subplot()
        self.setMinimumHeight(170)  # room for the log axis' labels and the legend
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

    def draw(self, history: list, settings) -> None:
        self.axes.clear()
        steps = [p.iteration for p in history]
        self.axes.semilogy(steps, [p.cost for p in history], label="J")
        self.axes.semilogy(steps, [settings.alpha * p.content for p in history], label="α·J_content")
        self.axes.semilogy(steps, [settings.beta * p.style for p in history], label="β·J_style")
        self.axes.set_xlabel("iteration")
        self.axes.legend(fontsize=7)
        self.canvas.draw_idle()


class StyleTab(QWidget):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.content: np.ndarray | None = None
        self.content_name = ""
        self.styles: list[tuple[str, np.ndarray]] = []
        self.result: np.ndarray | None = None
        self.worker: StyleWorker | None = None
        self.thread: QThread | None = None  # type: ignore[assignment]  # hides QObject.thread()
        self.history: list = []

        pick = QPushButton("Content image…")
        pick.clicked.connect(lambda: self.choose_content())
        grab = QPushButton("Use the camera frame")
        grab.clicked.connect(self.use_camera_frame)
        add_style = QPushButton("Add a style image…")
        add_style.clicked.connect(lambda: self.add_style())
        clear_styles = QPushButton("Clear styles")
        clear_styles.clicked.connect(self.clear_styles)
        self.style_list = QListWidget()
        self.style_list.setMaximumHeight(70)
        self.weights = QLineEdit()
        self.weights.setPlaceholderText("blend weights, e.g. 3, 1 (equal when empty)")
        self.run_button, self.pause_button = QPushButton("Run"), QPushButton("Pause")
        self.cancel_button, self.save_button = QPushButton("Cancel"), QPushButton("Save PNG…")
        self.run_button.clicked.connect(self.run)
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.pause)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(lambda: self.save())
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not started")
        self.cancelled = False
        self.preview = QLabel("The styled image appears here, changing as it is optimised.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(PREVIEW_PX // 2)
        self.plot = CostPlot()
        self.plot.hide()  # no empty axes before a run
        self.iterations_box, self.size_box = IntBox(), IntBox()  # the two numbers changed most often, also in Settings
        guard = WheelGuard(self)
        for box, key, suffix in ((self.iterations_box, "iterations", " iterations"), (self.size_box, "size", " px")):
            meta = next(f.metadata for f in dataclasses.fields(type(studio.settings.style)) if f.name == key)
            box.setRange(meta["min"], meta["max"])
            box.setSuffix(suffix)
            box.setToolTip(meta["help"] or f"style transfer {key}")
            box.editingFinished.connect(lambda k=key, b=box: self._set_style(k, b.value()))
            guard.guard(box)

        inputs = QHBoxLayout()
        for button in (pick, grab, add_style, clear_styles):
            inputs.addWidget(button)
        numbers = QHBoxLayout()
        for label, box in (("Iterations:", self.iterations_box), ("Size:", self.size_box)):
            numbers.addWidget(QLabel(label))
            numbers.addWidget(box)
        numbers.addStretch(1)
        controls = QHBoxLayout()
        for button in (self.run_button, self.pause_button, self.cancel_button, self.save_button):
            controls.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(inputs)
        layout.addWidget(self.style_list)
        layout.addWidget(self.weights)
        layout.addLayout(numbers)
        layout.addWidget(self.summary)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.preview, stretch=1)
        layout.addWidget(self.plot)
        studio.settings_changed.connect(lambda s: self.describe())
        self._set_running(False)
        self.describe()

    def describe(self) -> None:
        s = self.studio.settings.style
        for box, value in ((self.iterations_box, s.iterations), (self.size_box, s.size)):
            if not box.hasFocus():  # never under the user's fingers
                box.setValue(value)
        memory = estimate_memory(round(s.size * 0.75), s.size, s) / 2**20
        self.summary.setText(
            f"Content: {self.content_name or 'none'}; styles: {len(self.styles)}. α {s.alpha:g}, β {s.beta:g}, "
            f"{s.optimizer}, about {memory:.0f} MB, start from {s.init}"
            f"{', colors of the content kept' if s.preserve_colors else ''}. The others are in Settings › Style "
            "transfer.")

    def _set_style(self, key: str, value: int) -> None:
        """Iterations or size changed on the tab: applied and saved like any setting (the next run uses it)."""
        try:
            settings = self.studio.settings.with_value(f"style.{key}", value)
            if settings != self.studio.settings:
                self.studio.update_settings(settings)
        except LikenessError as error:
            self.studio.message.emit(str(error))
            self.describe()

    def choose_content(self, path: str | None = None) -> None:
        path = path or open_image(self, "Content image")
        if path:
            self._load(path, lambda image: self._set_content(image, Path(path).name))

    def use_camera_frame(self) -> None:
        latest = self.studio.latest
        if latest is None:
            self.summary.setText("No camera frame yet.")
            return
        self._set_content(latest.frame.image.copy(), "camera frame")

    def _set_content(self, image: np.ndarray, name: str) -> None:
        self.content, self.content_name = image, name
        self.preview.setPixmap(chip_pixmap(image, PREVIEW_PX))
        self.describe()

    def add_style(self, path: str | None = None) -> None:
        path = path or open_image(self, "Style image")
        if path:
            self._load(path, lambda image: self._add_style(Path(path).name, image))

    def _add_style(self, name: str, image: np.ndarray) -> None:
        self.styles.append((name, image))
        self.style_list.addItem(name)
        self.describe()

    def clear_styles(self) -> None:
        self.styles.clear()
        self.style_list.clear()
        self.describe()

    def _load(self, path: str, use) -> None:
        try:
            use(load_image(path))
        except LikenessError as error:
            self.summary.setText(str(error))

    def _blend_weights(self) -> list[float] | None:
        text = self.weights.text().strip()
        if not text:
            return None
        weights = [float(w) for w in text.split(",")]
        if len(weights) != len(self.styles) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError
        return weights

    def run(self) -> None:
        if self.content is None or not self.styles:
            self.summary.setText("Choose a content image and at least one style image first.")
            return
        try:
            weights = self._blend_weights()
        except ValueError:
            self.summary.setText("Give one non-negative blend weight per style image, separated by commas.")
            return
        self.history, self.result, self.cancelled = [], None, False
        self.progress.setRange(0, self.studio.settings.style.iterations)
        self.progress.setValue(0)
        self.progress.setFormat("Loading VGG19 and measuring the styles…")  # ~25 s on a CPU before iteration 1
        self.worker = StyleWorker(self.studio.settings.style, self.content, [s for _, s in self.styles], weights)
        self.worker.progress.connect(self.on_progress)
        self.worker.finished.connect(self.on_finished)
        self.thread = QThread()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self._set_running(True)
        self.thread.start()

    def on_progress(self, progress) -> None:
        self.history.append(progress)
        self.progress.setValue(progress.iteration)
        if not self.pause_button.isChecked() and not self.cancelled:
            self.progress.setFormat(f"%v / %m   J {progress.cost:.3g}   ETA {progress.eta:.0f} s")
        if progress.image is not None:
            self.preview.setPixmap(chip_pixmap(progress.image, PREVIEW_PX))
            self.plot.show()
            self.plot.draw(self.history, self.studio.settings.style)

    def pause(self, paused: bool) -> None:
        if self.worker is None:
            return
        self.worker.pause(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        if paused:
            self.progress.setFormat("Paused at %v / %m")
        elif self.history:
            self.progress.setFormat("%v / %m   J {:.3g}   ETA …".format(self.history[-1].cost))

    def on_finished(self, result) -> None:
        if isinstance(result, LikenessError):
            self._set_running(False)
            self.summary.setText(str(result))
            self.progress.setFormat("Stopped by an error at %v / %m")
            return
        self.result = result
        self._set_running(False)  # after the result: Save needs one
        self.progress.setFormat("Cancelled at %v / %m: the image as it was can be saved" if self.cancelled
                                else "Done: %v / %m")
        self.preview.setPixmap(chip_pixmap(result, PREVIEW_PX))
        if self.history:
            self.plot.draw(self.history, self.studio.settings.style)

    def cancel(self) -> None:
        if self.worker is not None and self.run_button.isEnabled() is False:
            self.cancelled = True
            self.progress.setFormat("Cancelling at %v / %m…")
            self.worker.cancel()

    def save(self, path: str | None = None) -> None:
        if self.result is None:
            return
        path = path or save_file(self, "Save the result", "styled.png", "PNG (*.png)")
        if path:
            recipe = {"content": self.content_name, "styles": [name for name, _ in self.styles],
                      "style_weights": self.weights.text(), "settings": dataclasses.asdict(self.studio.settings.style)}
            save_png_with_recipe(self.result, Path(path), recipe)
            self.summary.setText(f"Saved {path} with its settings inside.")

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(not running and self.result is not None)
        if not running:
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
