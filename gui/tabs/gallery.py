"""Gallery: the people enrolled, with their thumbnails and each one's shots; rename, delete a person or one shot,
add shots, export and import."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QInputDialog, QLabel, QListWidget, QListWidgetItem, QMessageBox, QPushButton,
    QVBoxLayout, QWidget,
)

from engine.errors import LikenessError
from engine.gallery import Gallery

from ..dialogs import open_file, save_file
from ..thumbnails import jpeg_pixmap
from ..wording import count

SHOT_PX = 72


class GalleryTab(QWidget):
    add_shots_requested = Signal(str)

    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.people = QListWidget()
        self.people.setIconSize(QSize(64, 64))
        self.info, self.where = QLabel(), QLabel()  # the last action's outcome; where the gallery is kept
        self.info.setWordWrap(True)
        self.where.setWordWrap(True)
        self._listing = 0  # the newest listing asked for: an older one that arrives late is dropped
        buttons = QGridLayout()
        for i, (text, slot) in enumerate((("Rename…", self.rename), ("Delete…", self.delete),
                                          ("Add shots", self.add_shots), ("Export…", self.export_gallery),
                                          ("Import…", self.import_gallery), ("Delete everything…", self.delete_all))):
            button = QPushButton(text)
            button.clicked.connect(lambda checked=False, s=slot: s())
            buttons.addWidget(button, i // 3, i % 3)
        self.shots = QListWidget()  # the selected person's shots (a double-click on a person opens them)
        self.shots.setViewMode(QListWidget.ViewMode.IconMode)
        self.shots.setMovement(QListWidget.Movement.Static)
        self.shots.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.shots.setIconSize(QSize(SHOT_PX, SHOT_PX))
        self.shots_title = QLabel("Select a person to see their shots.")
        self.remove_shot_button = QPushButton("Remove this shot…")
        self.remove_shot_button.clicked.connect(lambda: self.remove_shot())
        self.remove_shot_button.setEnabled(False)
        self.shots.currentItemChanged.connect(lambda item: self.remove_shot_button.setEnabled(item is not None))
        self.people.currentItemChanged.connect(lambda item: self.show_shots())
        self.people.itemDoubleClicked.connect(self.open_shots)
        shots_row = QHBoxLayout()
        shots_row.addWidget(self.shots_title, 1)
        shots_row.addWidget(self.remove_shot_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.people, 2)
        layout.addLayout(buttons)
        layout.addLayout(shots_row)
        layout.addWidget(self.shots, 1)
        layout.addWidget(self.info)
        layout.addWidget(self.where)
        studio.gallery_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """List everyone with a thumbnail, read on a background thread: a shared gallery of thousands of people
        takes a second or more to send its thumbnails, and the window must not stop meanwhile."""
        self._listing += 1
        listing, gallery = self._listing, self.studio.gallery
        self.studio.background.start(lambda: (listing, people_or_error(gallery)), self._show_people)
        where = gallery.status().where
        self.where.setText(f"Stored on this computer only: {where}" if isinstance(gallery, Gallery) else
                           f"Shared with other machines on the gallery server {where}")

    def _show_people(self, result) -> None:
        """A listing's (number, people or the LikenessError that stopped it); on this (the UI) thread."""
        listing, people = result
        if listing != self._listing:
            return  # an older listing, perhaps of a gallery closed since
        if isinstance(people, LikenessError):
            self.info.setText(f"The people cannot be listed: {people}")
            return
        if self.info.text().startswith("The people cannot be listed"):
            self.info.clear()
        selected = self.selected()
        self.people.clear()
        for person in people:
            since = f", since {person.created[:10]}" if person.created else ""
            item = QListWidgetItem(QIcon(jpeg_pixmap(person.thumbnail, 64)),
                                   f"{person.name}\n{count(person.embedding_count, 'shot')}{since}")
            item.setData(Qt.ItemDataRole.UserRole, person.name)
            self.people.addItem(item)
            if person.name == selected:
                self.people.setCurrentItem(item)
        if self.selected() is None:
            self.show_shots()

    def selected(self) -> str | None:
        item = self.people.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def show_shots(self) -> None:
        """The selected person's shots, oldest first, each with where it came from and when."""
        self.shots.clear()
        name = self.selected()
        if name is None:
            self.shots_title.setText("Select a person to see their shots.")
            return
        try:
            shots = self.studio.gallery.shots_of(name)
        except LikenessError as error:  # somebody deleted meanwhile, a shared gallery's server away
            self.shots_title.setText(f"The shots of {name} cannot be shown: {error}")
            return
        self.shots_title.setText(f"Shots of {name} ({count(len(shots), 'shot')}): select one to remove it.")
        for number, shot in enumerate(shots, 1):
            item = QListWidgetItem(QIcon(jpeg_pixmap(shot.thumbnail, SHOT_PX)), str(number))
            item.setData(Qt.ItemDataRole.UserRole, shot.id)
            item.setToolTip(f"{shot_source(shot.source)}, {shot.created[:16].replace('T', ' ')} UTC")
            self.shots.addItem(item)

    def open_shots(self, person: QListWidgetItem) -> None:
        self.people.setCurrentItem(person)  # shows their shots
        self.shots.setFocus()
        if self.shots.count():
            self.shots.setCurrentRow(0)

    def remove_shot(self, confirm: bool = True) -> None:
        """Remove the selected shot (a photo of somebody else, a poor one); the person's only shot asks to
        delete the person instead."""
        name, item = self.selected(), self.shots.currentItem()
        if name is None or item is None:
            return
        if self.shots.count() == 1:
            return self.delete(confirm)
        question = f"Remove shot {item.text()} of {name}? Its face is deleted from the gallery."
        if not confirm or QMessageBox.question(self, "Remove a shot", question) == QMessageBox.StandardButton.Yes:
            shot_id, number = item.data(Qt.ItemDataRole.UserRole), item.text()
            self.studio.run_job(lambda recognizer: recognizer.gallery.delete_shot(name, shot_id),
                                lambda result: self._changed(result, f"Removed shot {number} of {name}."))

    def _changed(self, result, done: str) -> None:
        """A change's answer from the pipeline thread: its LikenessError, or done."""
        if isinstance(result, LikenessError):
            QMessageBox.warning(self, "Likeness", str(result))
            return
        self.info.setText(done)
        self.studio.gallery_changed.emit()

    def rename(self, new: str | None = None) -> None:
        old = self.selected()
        if old is None:
            return
        new = new or QInputDialog.getText(self, "Rename", f"New name for {old}:", text=old)[0]
        if new and new != old:  # on the pipeline thread, through the window's one Recognizer
            self.studio.run_job(lambda recognizer: recognizer.rename(old, new),
                                lambda result: self._changed(result, f"Renamed {old} to {new}."))

    def delete(self, confirm: bool = True) -> None:
        name = self.selected()
        if name is None:
            return
        question = f"Delete {name} and every stored shot of their face? This cannot be undone."
        if not confirm or QMessageBox.question(self, "Delete", question) == QMessageBox.StandardButton.Yes:
            # on the pipeline thread, which also sends the "deleted" event when Integrations are set
            self.studio.run_job(lambda recognizer: recognizer.delete(name, source="window"),
                                lambda result: self._changed(result, f"Deleted {name}."))

    def add_shots(self) -> None:
        if (name := self.selected()) is not None:
            self.add_shots_requested.emit(name)

    def export_gallery(self, path: str | None = None) -> None:
        path = path or save_file(self, "Export the gallery", "gallery.likeness", "Likeness gallery (*.likeness)")
        if path:
            self.studio.run_job(lambda recognizer: recognizer.export(path),
                                lambda result: self._changed(result, f"Exported to {path}."))

    def import_gallery(self, path: str | None = None) -> None:
        path = path or open_file(self, "Import a gallery", "Likeness gallery (*.likeness *.sqlite);;All files (*)")
        if path:
            self.studio.run_job(lambda recognizer: recognizer.import_(path),
                                lambda result: self._changed(result, f"Imported {path}: {result}"))

    def delete_all(self) -> None:
        question = "Delete the whole gallery: everyone, every shot and the log? This cannot be undone."
        if QMessageBox.question(self, "Delete everything", question) == QMessageBox.StandardButton.Yes:
            self.studio.run_job(lambda recognizer: recognizer.delete_all(source="window"),
                                lambda result: self._changed(result, "Deleted the whole gallery."))


def shot_source(source: str) -> str:
    return "from the camera" if source == "camera" else Path(source).name or source


def people_or_error(gallery):
    """On a background thread: everyone enrolled, or the LikenessError that stopped the listing."""
    try:
        return gallery.people()
    except LikenessError as error:
        return error
