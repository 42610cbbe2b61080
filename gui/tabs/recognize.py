"""Recognize: hands-free 1:K recognition with a decision over consecutive frames, liveness, and a log."""
from __future__ import annotations

import csv
from datetime import datetime

from PySide6.QtWidgets import (
    QFileDialog, QHBoxLayout, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.kiosk import SPOOF, UNKNOWN, RecognitionVote

from ..thumbnails import chip_pixmap


class RecognizeTab(QWidget):
    COLUMNS = ("time", "name", "distance", "note", "face")
    COLORS = {UNKNOWN: "#e74c3c", SPOOF: "#e67e22"}

    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.vote = self._new_vote(studio)
        self.decision = QLabel("Waiting for a face…")
        self.log = QTableWidget(0, len(self.COLUMNS))
        self.log.setHorizontalHeaderLabels(self.COLUMNS)
        self.log.horizontalHeader().setStretchLastSection(True)
        studio.settings_changed.connect(self._settings_changed)
        self._settings_changed(studio.settings)
        export, clear = QPushButton("Export log as CSV…"), QPushButton("Clear log")
        export.clicked.connect(self.export_csv)
        clear.clicked.connect(lambda: self.log.setRowCount(0))
        buttons = QHBoxLayout()
        buttons.addWidget(export)
        buttons.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.addWidget(self.decision)
        layout.addWidget(QLabel("Recognitions (newest first):"))
        layout.addWidget(self.log)
        layout.addLayout(buttons)
        self.entries: list[tuple[str, str, float, str]] = []

    def _settings_changed(self, settings) -> None:
        self.vote = self._new_vote(self.studio)
        self.log.setColumnHidden(self.COLUMNS.index("face"), not settings.kiosk.log_thumbnails)

    @staticmethod
    def _new_vote(studio) -> RecognitionVote:
        kiosk, liveness = studio.settings.kiosk, studio.settings.liveness
        return RecognitionVote(kiosk.frames_to_decide, kiosk.cooldown, studio.liveness_mode(),
                               liveness.challenge_steps, liveness.step_time)

    @property
    def headline(self) -> str:
        """The line to show big: what the person must do, or the decision."""
        return self.vote.prompt or self.vote.current or ""

    def on_result(self, result) -> None:
        """Called with every new pipeline result: vote on the largest face, announce and log decisions."""
        face = result.faces[0] if result.faces else None
        announcement = self.vote.update(face, result.frame.timestamp)
        current = self.vote.current
        self.decision.setText(self.headline or ("Waiting for a face…" if face is None else "Looking…"))
        color = self.COLORS.get(current, "#27ae60") if current and not self.vote.prompt else "palette(text)"
        style = f"font-size: 20px; font-weight: bold; color: {color};"
        if self.decision.styleSheet() != style:  # restyling costs a re-polish: only on a change
            self.decision.setStyleSheet(style)
        if announcement is not None:
            self._log(announcement, face)

    def _log(self, announcement, face) -> None:
        when = datetime.now().strftime("%H:%M:%S")
        spoof = announcement.name == SPOOF
        note = f"looked like {announcement.claimed or 'a stranger'}: {announcement.reason}" if spoof else ""
        self.entries.insert(0, (when, announcement.name, announcement.distance, note))
        self.log.insertRow(0)
        for column, text in enumerate((when, announcement.name, f"{announcement.distance:.3f}", note)):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.log.setItem(0, column, item)
        if self.studio.settings.kiosk.log_thumbnails:
            cell = QLabel()
            cell.setPixmap(chip_pixmap(face.chip, 48))
            self.log.setCellWidget(0, self.COLUMNS.index("face"), cell)
            self.log.setRowHeight(0, 52)
        self.studio.announce(announcement, face)

    def export_csv(self, path: str | None = None) -> None:
        path = path or QFileDialog.getSaveFileName(self, "Export recognitions", "recognitions.csv", "CSV (*.csv)")[0]
        if not path:
            return
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(("time", "name", "distance", "note"))
            writer.writerows(self.entries)
        self.studio.message.emit(f"Saved {len(self.entries)} recognitions to {path}.")
