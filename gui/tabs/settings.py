"""Settings: one editor per field of engine.config.Settings, built from each field's unit, range and help.

A change is validated by Settings itself, applied live and saved at once. A value refused or clamped is said
beside its field and in the status bar, and the field shows the value in force; the rows never move.
"""
from __future__ import annotations

import os
from dataclasses import fields

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QPushButton, QScrollArea, QSpinBox, QToolTip, QVBoxLayout, QWidget,
)

from engine.camera import describe_source, list_cameras
from engine.config import UNITLESS, RecognitionSettings, Settings, amount, data_dir
from engine.errors import LikenessError
from engine.events import send_test_event
from engine.gallery import URL_VARIABLE
from engine.faces.encoders import ENCODER_FACTS, with_encoder
from engine.faces.liveness_points import describe_points
from engine.operating import IdentifyPoints
from engine.training.calibration import PRESET_FARS, Calibration

from ..dialogs import open_file, open_folder
from ..widgets.inputs import FloatBox, IntBox, WheelGuard
from ..widgets.rates_plot import RatesPlot

WARNING_FAR = max(PRESET_FARS.values())  # a tau looser than the loosest preset lets strangers in: said in orange
WARNING_STYLE = "color: #e67e22; font-weight: bold"

SECTION_TITLES = {"recognition": "Recognition", "kiosk": "Kiosk", "style": "Style transfer",
                  "training": "Training", "camera": "Camera", "liveness": "Liveness", "gallery": "Gallery",
                  "integrations": "Integrations (MQTT, webhook)"}


class SettingsTab(QScrollArea):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.identify_points = IdentifyPoints()  # what identification means, computed once per gallery change
        self.editors: dict[str, QWidget] = {}
        self.camera_choice: QComboBox | None = None
        self.encoder_choice: QComboBox | None = None
        self.calibration, self.rates_plot = None, None
        self.wheel_guard = WheelGuard(self)
        self.said = ""  # the last sentence said about a value (also in the status bar)
        body = QWidget()
        self.body_layout = layout = QVBoxLayout(body)
        self.tau_box = self._tau_presets()
        layout.addWidget(self.tau_box)
        studio.gallery_changed.connect(self._follow_encoder)
        studio.gallery_changed.connect(self.show_identify_meaning)  # after _follow_encoder, which may replace the box
        studio.settings_changed.connect(self._show_settings)  # also when another tab changed one (Style)
        for section in fields(Settings):
            layout.addWidget(self._section_box(section.name, getattr(studio.settings, section.name)))
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(self.reset)
        layout.addWidget(reset)
        self.setWidget(body)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # rows wrap instead
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # a width that never changes
        self._bound_tau()
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
        self.presets = self.calibration.presets() if self.calibration else {}
        self.preset_buttons: dict[str, QPushButton] = {}
        for name, tau in self.presets.items():
            button = QPushButton(f"{name} (τ {tau:.3f})")
            button.setCheckable(True)  # the preset in force is shown pressed
            button.setToolTip(f"{name}: {100 * PRESET_FARS[name]:g} % of strangers' pairs accepted")
            button.clicked.connect(lambda checked=False, t=tau: self.set_value("recognition.tau", t))
            row.addWidget(button)
            self.preset_buttons[name] = button
        self.tau_preset = QLabel()  # which preset is in force, or "custom", and what the default is
        self.tau_preset.setWordWrap(True)
        column.addWidget(self.tau_preset)
        self.tau_meaning = QLabel()
        self.tau_meaning.setWordWrap(True)
        column.addWidget(self.tau_meaning)
        self.identify_meaning = QLabel()  # identify's own threshold for this gallery (engine/operating.py)
        self.identify_meaning.setWordWrap(True)
        column.addWidget(self.identify_meaning)
        if self.rates_plot is not None:
            column.addWidget(self.rates_plot)
        return box

    def _section_box(self, name: str, section) -> QGroupBox:
        box = QGroupBox(SECTION_TITLES.get(name, name))
        form = QFormLayout(box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow panel puts the field below
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
            if unit in UNITLESS or unit in f.name.split("_"):
                unit = ""  # "iterations (iterations)", "min face px (px)", "alpha (weight)" say nothing more
            editor.setToolTip(f.metadata.get("help", ""))
            if isinstance(editor, (QSpinBox, QDoubleSpinBox, QComboBox)):
                self.wheel_guard.guard(editor)
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
            editor = IntBox() if isinstance(value, int) else FloatBox()
            if isinstance(editor, QDoubleSpinBox):
                editor.setDecimals(4)
                editor.setSingleStep(0.01)
            editor.setRange(meta.get("min") or 0, meta.get("max") if meta.get("max") is not None else 2**31 - 1)
            editor.setValue(value)  # type: ignore[arg-type]  # an int for a QSpinBox, a float for a QDoubleSpinBox
            editor.editingFinished.connect(lambda e=editor: self._number_edited(key, e))
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
        video.clicked.connect(lambda: self._pick_source(open_file(
            self, "Video to use as the camera", "Videos (*.mp4 *.mov *.avi *.mkv *.webm);;All files (*)")))
        folder.clicked.connect(lambda: self._pick_source(open_folder(self, "Folder of images to use as the camera")))
        buttons = QHBoxLayout()
        for button in (self.find_cameras, video, folder):
            buttons.addWidget(button)
        self.camera_note = QLabel()  # when --source overrides the setting
        self.camera_note.setWordWrap(True)
        self.camera_note.hide()
        row = QWidget()
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.camera_choice)
        column.addWidget(self.camera_note)
        column.addLayout(buttons)
        return self.camera_choice, row

    def show_camera_in_use(self, source: str) -> None:
        """The camera the window reads now, which --source may have chosen instead of the setting."""
        assert self.camera_choice is not None  # made by _camera_picker
        self.camera_choice.blockSignals(True)
        self._choose_camera_item(source)
        self.camera_choice.blockSignals(False)
        setting = self.studio.settings.camera.source
        self.camera_note.setText(f"In use now, from --source. Without it Likeness starts with "
                                 f"{camera_title(setting)}.")
        self.camera_note.setVisible(source != setting)

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

    def _number_edited(self, key: str, editor) -> None:
        """A number typed or stepped: one beyond the box's range was clamped to it, which is said."""
        typed = editor.clamped_from()
        self.set_value(key, editor.value())
        if typed is not None:
            self.show_problem(f"{key} {amount(typed, '')} is outside {amount(editor.minimum(), '')} … "
                              f"{amount(editor.maximum(), '')}: set to {amount(editor.value(), '')}.", key)

    def set_text(self, key: str, text: str, like) -> None:
        try:
            value = self._parse(text, like)
        except ValueError:
            section, name = key.split(".")
            in_force = format_value(getattr(getattr(self.studio.settings, section), name))
            self.show_problem(f"The setting {key} needs a number, not {text!r}; it stays {in_force}.", key)
            self._show(key, getattr(getattr(self.studio.settings, section), name))
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
            if key == "recognition.tau":
                self._check_measured(value)
            settings = (with_encoder(self.studio.settings, value) if key == "recognition.encoder"
                        else self.studio.settings.with_value(key, value))
            if settings != self.studio.settings:
                self.studio.update_settings(settings)
        except (LikenessError, ValueError) as error:
            self.show_problem(str(error), key)
            section, name = key.split(".")
            self._show(key, getattr(getattr(self.studio.settings, section), name))  # the value in force
            return
        self._show(key, value)
        self._bound_tau()
        self._show("recognition.tau", self.studio.settings.recognition.tau)
        self.show_tau_meaning()
        self.show_liveness_points()

    def _check_measured(self, tau) -> None:
        """ValueError unless tau lies where the encoder's calibration measured what it accepts and rejects."""
        if self.calibration is not None and isinstance(tau, (int, float)):
            low, high = self.calibration.tau_range()
            if not low <= tau <= high:
                raise ValueError(f"τ {tau:g} is outside {low:g} … {high:g}, where this encoder's rates were "
                                 f"measured (below it everyone is rejected, above it everyone accepted).")

    def _bound_tau(self) -> None:
        """The τ box spans what the encoder's calibration measured (and the value in force, even outside it)."""
        editor = self.editors["recognition.tau"]
        assert isinstance(editor, QDoubleSpinBox)
        if self.calibration is None:  # the settings' own range
            meta = next(f.metadata for f in fields(RecognitionSettings) if f.name == "tau")
            low, high = meta["min"], meta["max"]
        else:
            low, high = self.calibration.tau_range()
        tau = self.studio.settings.recognition.tau
        editor.blockSignals(True)
        editor.setRange(min(low, tau), max(high, tau))
        editor.setValue(tau)
        editor.blockSignals(False)

    def show_problem(self, text: str, key: str | None = None) -> None:
        """Say a sentence about a value: beside its field (a tooltip there) and in the status bar. The rows stay
        where they are."""
        self.said = text
        if not text:
            return
        self.studio.message.emit(text)
        editor = self.editors.get(key) if key else None
        if editor is not None and editor.isVisible():
            QToolTip.showText(editor.mapToGlobal(QPoint(0, editor.height())), text, editor)

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

    def _show_settings(self, settings: Settings) -> None:
        """Every editor shows the value in force, except the one being edited and the camera (which shows the
        camera in use, see show_camera_in_use)."""
        for key, editor in self.editors.items():
            section, name = key.split(".")
            if key != "camera.source" and not editor.hasFocus():
                self._show(key, getattr(getattr(settings, section), name))

    def _follow_encoder(self) -> None:
        """Another encoder has other distances: its own calibration, presets and plot."""
        encoder_id = self.studio.gallery.encoder_id
        if self.calibration is not None and self.calibration.encoder_id == encoder_id:
            return
        old, self.tau_box = self.tau_box, self._tau_presets()
        self.body_layout.replaceWidget(old, self.tau_box)
        old.deleteLater()
        self._bound_tau()
        self.show_tau_meaning()

    def show_tau_meaning(self) -> None:
        tau = self.studio.settings.recognition.tau
        unused = " τ is not used while the pair classifier decides." \
            if self.studio.settings.recognition.decision == "classifier" else ""
        self.tau_preset.setText(self._preset_words(tau))
        if self.calibration:
            far = self.calibration.far(tau)
            rates = (f"{100 * far:.3f} % of strangers' pairs accepted, {100 * self.calibration.frr(tau):.1f} % of "
                     f"genuine pairs rejected.")
            loose = far > WARNING_FAR
            self.tau_meaning.setText(
                (f"Warning: τ {tau:.4g} lets strangers in: {rates} Choose a preset or a smaller τ." if loose
                 else f"At τ {tau:.4g}: {rates}") + unused)
            self.tau_meaning.setStyleSheet(WARNING_STYLE if loose else "")
            self.rates_plot.set_tau(tau, warn=loose)
        else:
            self.tau_meaning.setText("`python main.py calibrate` measures what τ means for this encoder." + unused)
            self.tau_meaning.setStyleSheet("")
        self.show_identify_meaning()

    def _preset_words(self, tau: float) -> str:
        """Which preset τ is (its button pressed), or "custom"; and what the encoder's default τ means."""
        chosen = next((name for name, preset in self.presets.items() if abs(preset - tau) < 5e-5), None)
        for name, button in self.preset_buttons.items():
            button.setChecked(name == chosen)
        encoder = self.studio.settings.recognition.encoder or "dlib"
        facts = ENCODER_FACTS.get(encoder)
        default = (f"The default for {encoder}, τ {facts.tau:.4g}, is its most accurate on LFW's DevTrain pairs."
                   if facts else "")
        if chosen:
            return f"Preset in force: {chosen}. {default}".strip()
        is_default = facts is not None and abs(facts.tau - tau) < 5e-5
        return (f"τ {tau:.4g} is custom{' (the default)' if is_default else ''}: no preset. {default}").strip()

    def show_identify_meaning(self) -> None:
        """What identification's threshold means for the gallery as it is now."""
        recognition, gallery = self.studio.settings.recognition, self.studio.gallery
        try:
            point = self.identify_points.of(gallery.matrix(), recognition.tau, recognition.stranger_rate,
                                            gallery.encoder_id)
        except LikenessError as error:  # a shared gallery's server away, a gallery closed as the window closes
            self.identify_meaning.setText(f"Verify (1:1) uses τ. What identification means cannot be read now: {error}")
            return
        self.identify_meaning.setText("Verify (1:1) uses τ. Identify (1:K): " + point.summary())

    def reset(self) -> None:
        defaults = Settings()
        self.studio.update_settings(defaults)
        for key in self.editors:
            section, name = key.split(".")
            self._show(key, getattr(getattr(defaults, section), name))
        self._bound_tau()
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
