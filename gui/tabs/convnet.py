"""ConvNet: for units of a VGG19 layer, the nine image patches that excite each most (Zeiler & Fergus 2013)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QScrollArea, QSpinBox, QVBoxLayout,
    QWidget,
)

from engine.config import VGG19_CONV_LAYERS
from engine.convnet import SAMPLES, scan_folder, top_patches_grid
from engine.errors import LikenessError

from ..dialogs import open_folder
from ..widgets.camera_view import to_qimage
from ..workers import as_likeness_error

UNITS_SHOWN = 6


class ScanWorker(QObject):
    progress = Signal(int, int)
    finished = Signal(object)  # Scan or LikenessError

    def __init__(self, layer: str, folder: Path):
        super().__init__()
        self.layer, self.folder = layer, folder
        self.cancelled = threading.Event()

    def run(self) -> None:
        try:
            self.finished.emit(scan_folder(self.layer, self.folder, on_progress=self.progress.emit,
                                           should_stop=self.cancelled.is_set))
        except Exception as error:  # a full disk for the cache, an unreadable folder…: said, tab usable again
            self.finished.emit(as_likeness_error(error, "scanning a folder"))
        finally:
            QThread.currentThread().quit()


class ConvNetTab(QWidget):
    def __init__(self, studio):
        super().__init__()
        self.folder = SAMPLES
        self.scan = None
        self.worker: ScanWorker | None = None
        self.thread: QThread | None = None  # type: ignore[assignment]  # hides QObject.thread()
        self.layer = QComboBox()
        self.layer.addItems(VGG19_CONV_LAYERS)
        self.layer.setCurrentText("conv3_1")
        self.first_unit = QSpinBox()
        self.first_unit.setPrefix("units from ")
        self.first_unit.valueChanged.connect(self.show_units)
        folder = QPushButton("Image folder…")
        folder.clicked.connect(lambda: self.choose_folder())
        scan = QPushButton("Scan")
        scan.clicked.connect(self.start_scan)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.status = QLabel(f"Images: {self.folder}")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.grid = QLabel("Pick a layer and press Scan: each row shows the nine patches that excite one unit most.")
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.scroll = scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        row = QHBoxLayout()
        for widget in (QLabel("layer"), self.layer, self.first_unit, folder, scan, self.cancel_button):
            row.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addWidget(scroll, stretch=1)

    def choose_folder(self, folder: str | None = None) -> None:
        folder = folder or open_folder(self, "Images to scan")
        if folder:
            self.folder = Path(folder)
            self.status.setText(f"Images: {self.folder}")

    def start_scan(self) -> None:
        if self.thread is not None and self.thread.isRunning():
            return
        self.worker = ScanWorker(self.layer.currentText(), self.folder)
        self.worker.progress.connect(self.on_progress)
        self.worker.finished.connect(self.on_scanned)
        self.thread = QThread()
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.cancel_button.setEnabled(True)
        self.thread.start()

    def on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def on_scanned(self, scan) -> None:
        self.cancel_button.setEnabled(False)
        if isinstance(scan, LikenessError):
            self.status.setText(str(scan))
            return
        self.scan = scan
        self.first_unit.setRange(0, scan.peaks.shape[1] - UNITS_SHOWN)
        self.status.setText(f"{scan.layer}: {scan.peaks.shape[1]} units, {len(scan.image_paths)} images scanned "
                            f"from {self.folder}. Change the first unit to browse; the scan is cached.")
        self.show_units()

    def show_units(self) -> None:
        if self.scan is None:
            return
        first = self.first_unit.value()
        units = list(range(first, min(first + UNITS_SHOWN, self.scan.peaks.shape[1])))
        grid = QPixmap.fromImage(to_qimage(top_patches_grid(self.scan, units)))
        width = cast(QScrollArea, self.scroll).viewport().width() - 4  # the attribute hides QWidget.scroll()
        if grid.width() > width > 0:  # all nine patches of a row in view, smaller rather than cut
            grid = grid.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        self.grid.setPixmap(grid)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancelled.set()
