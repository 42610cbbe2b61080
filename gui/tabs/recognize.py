"""Recognize: hands-free 1:K recognition. The pipeline thread decides (engine.streams); this tab shows the
decision of the face the kiosk speaks of and keeps the log, one row per visit."""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.config import data_dir
from engine.streams import FaceDecision, Kind

from ..thumbnails import chip_pixmap


def clock(timestamp: float) -> str:
    """A frame's time (time.monotonic()) on the wall clock."""
    return (datetime.now() - timedelta(seconds=time.monotonic() - timestamp)).strftime("%H:%M:%S")


@dataclass
class Visit:
    """One row of the log: a person (or a stranger, or a spoof) seen from `first` to `last`."""

    visit: int
    first: str
    last: str
    kind: Kind
    name: str  # the person recognised, or the one a spoof looked like ("" for none)
    distance: float | None
    note: str

    def cells(self) -> tuple[str, ...]:
        distance = f"{self.distance:.3f}" if self.distance is not None else ""
        return self.first, self.last, self.kind.event or self.kind.value, self.name, distance, self.note


class RecognizeTab(QWidget):
    COLUMNS = ("first seen", "last seen", "decision", "name", "distance", "note", "face")
    LAST = COLUMNS.index("last seen")

    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.shown: FaceDecision | None = None  # the decision the big line speaks of
        self.decision = QLabel("Waiting for a face…")
        self.log = QTableWidget(0, len(self.COLUMNS))
        self.log.setHorizontalHeaderLabels(self.COLUMNS)
        self.log.horizontalHeader().setStretchLastSection(True)
        studio.settings_changed.connect(self._settings_changed)
        self._settings_changed(studio.settings)
        export, clear = QPushButton("Export log as CSV…"), QPushButton("Clear log")
        export.clicked.connect(self.export_csv)
        clear.clicked.connect(self.clear)
        buttons = QHBoxLayout()
        buttons.addWidget(export)
        buttons.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.addWidget(self.decision)
        layout.addWidget(QLabel("Visits (newest first):"))
        layout.addWidget(self.log)
        layout.addLayout(buttons)
        self.entries: list[Visit] = []  # newest first, as in the table

    def _settings_changed(self, settings) -> None:
        self.log.setColumnHidden(self.COLUMNS.index("face"), not settings.kiosk.log_thumbnails)

    @property
    def prompt(self) -> str:
        """What the person being challenged is asked to do ("" when nothing is asked)."""
        shown = self.shown
        return shown.prompt if shown is not None and shown.kind is Kind.CHALLENGE_RUNNING else ""

    @property
    def headline(self) -> str:
        """The line to show big: what the person must do, or the decision."""
        return self.shown.headline if self.shown is not None else ""

    def on_result(self, result) -> None:
        """Every new pipeline result: show the decision the stream made, move the visits' last-seen times."""
        self.shown = result.identify.headline
        shown = self.shown
        self.decision.setText(self.headline or ("Waiting for a face…" if shown is None else "Checking…"))
        color = shown.colour if shown is not None and self.headline and not self.prompt else "palette(text)"
        style = f"font-size: 20px; font-weight: bold; color: {color};"
        if self.decision.styleSheet() != style:  # restyling costs a re-polish: only on a change
            self.decision.setStyleSheet(style)
        visits = result.identify.visits
        for row, entry in enumerate(self.entries):
            if entry.visit in visits and (last := clock(visits[entry.visit])) != entry.last:
                entry.last = last
                self.log.item(row, self.LAST).setText(last)

    def log_visit(self, decision: FaceDecision) -> None:
        """A new visit, as the pipeline thread decided and logged it."""
        when = clock(decision.time)
        entry = Visit(decision.visit or 0, when, when, decision.kind, decision.name or decision.claimed or "",
                      decision.distance, decision.note)
        self.entries.insert(0, entry)
        self.log.insertRow(0)
        for column, text in enumerate(entry.cells()):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.log.setItem(0, column, item)
        if self.studio.settings.kiosk.log_thumbnails and decision.face is not None:
            cell = QLabel()
            cell.setPixmap(chip_pixmap(decision.face.chip, 48))
            self.log.setCellWidget(0, self.COLUMNS.index("face"), cell)
            self.log.setRowHeight(0, 52)

    def clear(self) -> None:
        self.entries.clear()
        self.log.setRowCount(0)

    def export_csv(self, path: str | None = None) -> None:
        path = path or QFileDialog.getSaveFileName(self, "Export recognitions", "recognitions.csv", "CSV (*.csv)")[0]
        if not path:
            return
        target = Path(path).resolve()
        if data_dir().resolve() in target.parents:  # never over the gallery, its journal or the outbox (and opening a
            # live SQLite file outside SQLite would drop its locks)
            self.studio.message.emit(f"Not saved: {path} is in Likeness's own data folder; choose another place.")
            return
        draft = target.with_name(f".{target.name}.partial")
        try:
            with open(draft, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(self.COLUMNS[:-1])
                writer.writerows(entry.cells() for entry in self.entries)
            draft.replace(target)
        except OSError as error:  # a full disk, a folder without write permission: the old file stays as it was
            draft.unlink(missing_ok=True)
            self.studio.message.emit(f"Not saved: {path} could not be written ({error.strerror or error}).")
            return
        self.studio.message.emit(f"Saved {len(self.entries)} visits to {path}.")
