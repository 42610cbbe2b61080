"""Settings: one editor per field of engine.config.Settings, built from each field's unit, range and help.

A change is validated by Settings itself, applied live and saved at once.
"""
from __future__ import annotations

import os
from dataclasses import fields

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget,
)

from engine.camera import describe_source, list_cameras
from engine.config import Settings, data_dir
from engine.errors import LikenessError
from engine.events import send_test_event
from engine.gallery import URL_VARIABLE
from engine.faces.encode import ENCODER_FACTS, with_encoder
from engine.faces.liveness_points import describe_points
from engine.training.calibration import Calibration

from ..widgets.rates_plot import RatesPlot

SECTION_TITLES = {"recognition": "Recognition", "kiosk": "Kiosk", "style": "Style transfer",
                  "training": "Training", "camera": "Camera", "liveness": "Liveness", "gallery": "Gallery",
                  "integrations": "Integrations (MQTT, webhook)"}


class SettingsTab(QScrollArea):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.editors: dict[str, QWidget] = {}
        self.camera_choice: QComboBox | None = None
        self.encoder_choice: QComboBox | None = None
        self.calibration, self.rates_plot = None, None
        body = QWidget()
        self.body_layout = layout = QVBoxLayout(body)
        self.problem = QLabel()  # at the top, where a refused value is seen
        self.problem.setStyleSheet("color: #e74c3c")
        self.problem.setWordWrap(True)
        layout.addWidget(self.problem)
        self.problem.hide()
        self.tau_box = self._tau_presets()
        layout.addWidget(self.tau_box)
        studio.gallery_changed.connect(self._follow_encoder)
        for section in fields(Settings):
            layout.addWidget(self._section_box(section.name, getattr(studio.settings, section.name)))
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self.reset)
        layout.addWidget(reset)
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.show_tau_meaning()

    def _tau_presets(self) -> QGroupBox:
        """What τ means for the encoder in use: presets by false-accept rate and the FAR/FRR plot."""
        try:
            self.calibration = Calibration.for_encoder(self.studio.gallery.encoder_id)
        except (OSError, KeyError, ValueError):
            self.calibration = None
        self.rates_plot = RatesPlot(self.calibration) if self.calibration else None
        box = QGroupBox("τ presets by false-accept rate")
        column = QVBoxLayout(box)
        measured = QLabel(f"Measured on {self.calibration.source}." if self.calibration else
                          "No calibration of this encoder yet.")
        measured.setWordWrap(True)
        column.addWidget(measured)
        row = QHBoxLayout()
        column.addLayout(row)
        presets = self.calibration.presets() if self.calibration else {}
        for name, tau in presets.items():
            button = QPushButton(f"{name} (τ {tau:.3f})")
            button.clicked.connect(lambda checked=False, t=tau: self.set_value("recognition.tau", t))
            row.addWidget(button)
        self.tau_meaning = QLabel()
        self.tau_meaning.setWordWrap(True)
        column.addWidget(self.tau_meaning)
        if self.rates_plot is not None:
            column.addWidget(self.rates_plot)
        return box

    def _section_box(self, name: str, section) -> QGroupBox:
        box = QGroupBox(SECTION_TITLES.get(name, name))
        form = QFormLayout(box)
        for f in fields(section):
            key = f"{name}.{f.name}"
            editor: QWidget
            row: QWidget
            if key == "camera.source":
                editor, row = self._camera_picker(getattr(section, f.name))
            elif key == "recognition.encoder":
                editor, row = self._encoder_picker(getattr(section, f.name))
            else:
                editor = row = self._editor(key, f, getattr(section, f.name))
            unit = f.metadata.get("unit", "")
            editor.setToolTip(f.metadata.get("help", ""))
            if key == "gallery.url" and URL_VARIABLE in os.environ and isinstance(editor, QLineEdit):
                editor.setText(os.environ[URL_VARIABLE])  # the environment wins: show what is in use, not ""
                editor.setEnabled(False)
                editor.setToolTip(f"Set by the environment variable {URL_VARIABLE}, which wins over this setting.")
            self.editors[key] = editor
            form.addRow(f"{f.name.replace('_', ' ')}" + (f" ({unit})" if unit else ""), row)
        if name == "integrations":
            form.addRow(self._test_event_row())
        if name == "liveness":
            self.liveness_points = QLabel()
            self.liveness_points.setWordWrap(True)
            form.addRow(self.liveness_points)
            self.show_liveness_points()
        return box

    def show_liveness_points(self) -> None:
        """Where the liveness thresholds come from and what they measured (resources/calibration/liveness.json)."""
        liveness = self.studio.settings.liveness
        self.liveness_points.setText(describe_points(liveness.threshold, liveness.still_threshold))

    def _test_event_row(self) -> QWidget:
        """"Send a test event" to the broker and the webhook set above, and what happened."""
        self.test_event = QPushButton("Send a test event")
        self.test_event.clicked.connect(self.send_test_event)
        self.test_event_result = QLabel()
        self.test_event_result.setWordWrap(True)
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.test_event)
        line.addWidget(self.test_event_result, 1)
        return row

    def send_test_event(self) -> None:
        """On a background thread: a broker or receiver may take its whole timeout to answer."""
        self.test_event.setEnabled(False)
        self.test_event_result.setText("Sending…")
        settings = self.studio.settings
        self.studio.background.start(lambda: send_test_event(settings), self._test_event_sent)

    def _test_event_sent(self, result) -> None:
        self.test_event.setEnabled(True)
        self.test_event_result.setText(str(result))

    def _editor(self, key: str, f, value) -> QWidget:
        meta = f.metadata
        editor: QWidget
        if isinstance(value, bool):
            editor = QCheckBox()
            editor.setChecked(value)
            editor.toggled.connect(lambda v: self.set_value(key, v))
        elif meta.get("choices") and not isinstance(value, tuple):
            editor = QComboBox()
            editor.addItems([str(c) for c in meta["choices"]])
            editor.setCurrentText(str(value))
            editor.currentTextChanged.connect(lambda v: self.set_value(key, v))
        elif isinstance(value, int) or (isinstance(value, float) and fits_a_spin_box(meta)):
            editor = QSpinBox() if isinstance(value, int) else QDoubleSpinBox()
            if isinstance(editor, QDoubleSpinBox):
                editor.setDecimals(4)
                editor.setSingleStep(0.01)
            editor.setRange(meta.get("min") or 0, meta.get("max") if meta.get("max") is not None else 2**31 - 1)
            editor.setValue(value)  # type: ignore[arg-type]  # an int for a QSpinBox, a float for a QDoubleSpinBox
            editor.editingFinished.connect(lambda e=editor: self.set_value(key, e.value()))
        else:  # text: tuples, free strings, and floats spanning many decades (1e-3 … 1e12)
            editor = QLineEdit(format_value(value))
            editor.setCursorPosition(0)
            if key == "kiosk.pin":
                editor.setEchoMode(QLineEdit.EchoMode.Password)
            editor.editingFinished.connect(lambda e=editor, v=value: self.set_text(key, e.text(), like=v))
        return editor

    def _encoder_picker(self, value: str) -> tuple[QComboBox, QWidget]:
        """The shipped encoders with their measured accuracy and cost, and a button for one that `train` made."""
        self.encoder_choice = QComboBox()
        self.encoder_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.encoder_choice.setMinimumContentsLength(24)  # the facts are long: the panel must not grow sideways
        for index, (name, facts) in enumerate(ENCODER_FACTS.items()):
            self.encoder_choice.addItem(f"{name} ({facts.accuracy:.2f} %, {facts.ms_per_face:.0f} ms)", name)
            self.encoder_choice.setItemData(index, f"{name}: {facts}", Qt.ItemDataRole.ToolTipRole)
        self._choose_encoder_item(value)
        self.encoder_choice.activated.connect(
            lambda index: self.set_value("recognition.encoder", self.encoder_choice.itemData(index)))
        choose = QPushButton("Trained…")
        choose.clicked.connect(lambda: self._pick_encoder(QFileDialog.getOpenFileName(
            self, "Encoder made by `python main.py train`", str(data_dir() / "encoders"), "ONNX (*.onnx)")[0]))
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.encoder_choice, 1)
        line.addWidget(choose)
        return self.encoder_choice, row

    def _choose_encoder_item(self, value: str) -> None:
        assert self.encoder_choice is not None  # made by _encoder_picker
        index = self.encoder_choice.findData(value or "dlib")
        if index < 0:
            self.encoder_choice.addItem(f"trained: {value}", value)
            index = self.encoder_choice.count() - 1
        self.encoder_choice.setCurrentIndex(index)

    def _pick_encoder(self, path: str) -> None:
        if path:
            self.set_value("recognition.encoder", path)

    # --- the camera picker --------------------------------------------------------------------------
    def _camera_picker(self, source: str) -> tuple[QComboBox, QWidget]:
        self.camera_choice = QComboBox()
        self._choose_camera_item(source)
        self.camera_choice.activated.connect(lambda index: self.set_value("camera.source",
                                                                           self.camera_choice.itemData(index)))
        self.find_cameras = QPushButton("Find webcams")
        self.find_cameras.clicked.connect(self.look_for_cameras)
        video, folder = QPushButton("Video file…"), QPushButton("Image folder…")
        video.clicked.connect(lambda: self._pick_source(QFileDialog.getOpenFileName(
            self, "Video to use as the camera", "", "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)")[0]))
        folder.clicked.connect(lambda: self._pick_source(QFileDialog.getExistingDirectory(
            self, "Folder of images to use as the camera")))
        buttons = QHBoxLayout()
        for button in (self.find_cameras, video, folder):
            buttons.addWidget(button)
        row = QWidget()
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.camera_choice)
        column.addLayout(buttons)
        return self.camera_choice, row

    def _choose_camera_item(self, source: str) -> None:
        assert self.camera_choice is not None  # made by _camera_picker
        index = self.camera_choice.findData(source)
        if index < 0:
            self.camera_choice.addItem(camera_title(source), source)
            index = self.camera_choice.count() - 1
        self.camera_choice.setCurrentIndex(index)

    def _pick_source(self, path: str) -> None:
        if path:
            self.set_value("camera.source", path)

    def look_for_cameras(self) -> None:
        """Probe the webcams on a background thread (opening each one may take a second)."""
        self.find_cameras.setEnabled(False)
        self.find_cameras.setText("Looking…")
        self.studio.background.start(list_cameras, self.cameras_found)

    def cameras_found(self, found) -> None:
        self.find_cameras.setEnabled(True)
        self.find_cameras.setText("Find webcams")
        if isinstance(found, LikenessError):
            self.show_problem(str(found))
            return
        assert self.camera_choice is not None  # its "Find webcams" button asked
        for index in found:
            if self.camera_choice.findData(str(index)) < 0:
                self.camera_choice.addItem(camera_title(str(index)), str(index))
        self.show_problem("" if found else "No webcam found; a video file or an image folder works as a camera.")

    def set_text(self, key: str, text: str, like) -> None:
        try:
            value = self._parse(text, like)
        except ValueError:
            self.show_problem(f"The setting {key} needs a number, not {text!r}.")
            return
        self.set_value(key, value)

    @staticmethod
    def _parse(text: str, like):
        if isinstance(like, float):
            return float(text)
        if not isinstance(like, tuple):
            return text
        items = [t.strip() for t in text.split(",") if t.strip()]
        return tuple(float(t) for t in items) if like and isinstance(like[0], float) else tuple(items)

    def set_value(self, key: str, value) -> None:
        try:
            settings = (with_encoder(self.studio.settings, value) if key == "recognition.encoder"
                        else self.studio.settings.with_value(key, value))
            if settings != self.studio.settings:
                self.studio.update_settings(settings)
        except (LikenessError, ValueError) as error:
            self.show_problem(str(error))
            section, name = key.split(".")
            self._show(key, getattr(getattr(self.studio.settings, section), name))  # the value in force
            return
        self.show_problem("")
        self._show(key, value)
        self._show("recognition.tau", self.studio.settings.recognition.tau)
        self.show_tau_meaning()
        self.show_liveness_points()

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def _show(self, key: str, value) -> None:
        editor = self.editors[key]
        editor.blockSignals(True)
        if isinstance(editor, QCheckBox):
            editor.setChecked(value)
        elif editor is self.camera_choice:
            self._choose_camera_item(value)
        elif editor is self.encoder_choice:
            self._choose_encoder_item(value)
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        else:
            assert isinstance(editor, QLineEdit)  # what _editor makes for the rest
            editor.setText(format_value(value))
            editor.setCursorPosition(0)
        editor.blockSignals(False)

    def _follow_encoder(self) -> None:
        """Another encoder has other distances: its own calibration, presets and plot."""
        encoder_id = self.studio.gallery.encoder_id
        if self.calibration is not None and self.calibration.encoder_id == encoder_id:
            return
        old, self.tau_box = self.tau_box, self._tau_presets()
        self.body_layout.replaceWidget(old, self.tau_box)
        old.deleteLater()
        self.show_tau_meaning()

    def show_tau_meaning(self) -> None:
        tau = self.studio.settings.recognition.tau
        unused = " τ is not used while the pair classifier decides." \
            if self.studio.settings.recognition.decision == "classifier" else ""
        if self.calibration:
            self.tau_meaning.setText(f"At τ {tau:.3f}: {100 * self.calibration.far(tau):.3f} % of strangers' pairs "
                                     f"accepted, {100 * self.calibration.frr(tau):.1f} % of genuine pairs rejected."
                                     + unused)
            self.rates_plot.set_tau(tau)
        else:
            self.tau_meaning.setText("`python main.py calibrate` measures what τ means for this encoder." + unused)

    def reset(self) -> None:
        defaults = Settings()
        self.studio.update_settings(defaults)
        for key in self.editors:
            section, name = key.split(".")
            self._show(key, getattr(getattr(defaults, section), name))
        self.show_tau_meaning()
        self.show_liveness_points()


def camera_title(source: str) -> str:
    return f"Webcam {source}" if source.isdigit() else describe_source(source)


def fits_a_spin_box(meta) -> bool:
    """A spin box with 4 decimals shows floats of a small range (tau, a probability) well; not 1e-3 … 1e12."""
    return meta.get("max") is not None and meta["max"] <= 10 and (meta.get("min") or 0) >= 0


def format_value(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
