"""Enroll: a name, then shots from the camera (each passing the quality gates) or photos from disk."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout,
    QWidget,
)

from engine.errors import LikenessError, NotThisPerson, UnknownPerson
from engine.streams import liveness_of
from engine.pipeline import FaceObservation
from engine.images import load_image

from ..dialogs import open_images
from ..thumbnails import chip_pixmap, jpeg_pixmap, photo_pixmap
from ..wording import count

SHOTS_PER_CAPTURE = 5
SECONDS_BETWEEN_SHOTS = 0.4
SHOT_PX = 96
PHOTO_PX = 240  # a photo with several faces is shown with the face taken boxed


@dataclass(frozen=True, eq=False)  # shots are compared by identity: a face's arrays have no single truth value
class Shot:
    face: FaceObservation
    source: str


class EnrollTab(QWidget):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.shots: list[Shot] = []
        self.capture_timer = QTimer(self)
        self.capture_timer.timeout.connect(self._try_capture)
        self.last_capture = 0.0
        self.last_result_used = None
        self.setAcceptDrops(True)

        self.name = QLineEdit()
        self.name.setPlaceholderText("Name of the person")
        self.stored_timer = QTimer(self, singleShot=True, interval=300)  # look the name up once typing pauses
        self.stored_timer.timeout.connect(self.show_stored_shots)
        self.name.textChanged.connect(self.stored_timer.start)
        self.capture_button = QPushButton(f"Capture {SHOTS_PER_CAPTURE} shots from the camera")
        self.capture_button.clicked.connect(self.start_capture)
        photos = QPushButton("Add photos…")
        photos.clicked.connect(lambda: self.add_photos())
        self.feedback = QLabel("One photo is enough; more shots improve recognition. You can drop photos here.")
        self.feedback.setWordWrap(True)
        self.preview, self.stored = shot_list(), shot_list()
        self.stored_title = QLabel()
        self.save_button = QPushButton("Enroll")
        self.save_button.clicked.connect(self.save)
        clear = QPushButton("Discard shots")
        clear.clicked.connect(self.clear_shots)

        row = QHBoxLayout()
        row.addWidget(self.capture_button)
        row.addWidget(photos)
        bottom = QHBoxLayout()
        bottom.addWidget(self.save_button)
        bottom.addWidget(clear)
        layout = QVBoxLayout(self)
        for widget in (QLabel("Name:"), self.name):
            layout.addWidget(widget)
        layout.addLayout(row)
        layout.addWidget(self.feedback)
        self.photo = QLabel()
        self.photo.setVisible(False)
        layout.addWidget(self.photo)
        layout.addWidget(QLabel("New shots:"))
        layout.addWidget(self.preview, 2)
        layout.addLayout(bottom)
        layout.addWidget(self.stored_title)
        layout.addWidget(self.stored, 1)
        self.shots_encoder = studio.gallery.encoder_id  # the new shots' embeddings come from this encoder
        studio.gallery_changed.connect(self._gallery_changed)
        self.show_stored_shots()

    def _gallery_changed(self) -> None:
        if self.studio.gallery.encoder_id != self.shots_encoder:  # another encoder: its gallery, its embeddings
            self.shots_encoder = self.studio.gallery.encoder_id
            if self.shots:
                self.clear_shots()
                self._say("The encoder changed: take the shots again.")
        self.show_stored_shots()

    # --- shots from the camera ---------------------------------------------------------------
    def start_capture(self) -> None:
        self.capture_target = len(self.shots) + SHOTS_PER_CAPTURE
        self.capture_button.setEnabled(False)
        self.capture_timer.start(100)

    def _try_capture(self) -> None:
        result = self.studio.fresh_result()
        if result is None:
            return self._say("Waiting for the camera…")
        if result is self.last_result_used:
            return
        if len(result.faces) != 1:
            return self._say("No face in view." if not result.faces else
                             f"{len(result.faces)} faces in view: only the person to enroll, please.")
        face = result.faces[0]
        live, why = liveness_of(face, self.studio.liveness_mode())
        if live is None:
            return self._say("Checking that the face is live…")
        if not live:  # someone enrolling a photo of somebody else
            return self._say(f"Shot refused: spoof suspected ({why}).")
        if not face.quality.ok:
            return self._say("Shot refused: " + "; ".join(face.quality.problems) + ".")
        if time.monotonic() - self.last_capture < SECONDS_BETWEEN_SHOTS:
            return
        self.last_capture, self.last_result_used = time.monotonic(), result
        self._add_shot(Shot(face, "camera"))
        self._say(f"Shot {len(self.shots)} taken. Move your head a little between shots.")
        if len(self.shots) >= self.capture_target:
            self.capture_timer.stop()
            self.capture_button.setEnabled(True)
            self._say(f"{len(self.shots)} shots ready: press Enroll.")

    # --- photos from disk ----------------------------------------------------------------------
    def add_photos(self, paths: list[str] | None = None) -> None:
        if paths is None:
            paths = open_images(self, "Photos of the person")
        for path in paths:
            self.studio.run_job(lambda recognizer, p=path: photo_subject(recognizer, p),
                                lambda result, p=path: self._photo_done(p, result))

    def _photo_done(self, path: str, result) -> None:
        if isinstance(result, LikenessError):
            self._say(str(result))
            return
        image, photo, encoder = result
        if encoder != self.shots_encoder:  # asked for before the encoder changed: its embedding is of the old one
            return
        self._add_shot(Shot(photo.face, str(Path(path).resolve())))
        self._say(f"{Path(path).name} added ({count(len(self.shots), 'new shot')}). "
                  f"{photo.note(Path(path).name)}".strip())
        several = len(photo.faces) > 1
        self.photo.setVisible(several)
        if several:
            self.photo.setPixmap(photo_pixmap(image, [f.box for f in photo.faces], photo.index, PHOTO_PX))

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.add_photos([url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()])

    # --- saving --------------------------------------------------------------------------------
    def _add_shot(self, shot: Shot) -> None:
        self.shots.append(shot)
        self.preview.addItem(QListWidgetItem(QIcon(chip_pixmap(shot.face.chip, SHOT_PX)), ""))

    def save(self, force: bool = False) -> None:
        """Enroll the new shots under the name typed; a shot that matches none of the person's other shots is
        only stored once the user confirms it is the same person (see Recognizer.enroll)."""
        name = self.name.text().strip()
        if not name:
            return self._say("Type the person's name first.")
        if not self.shots:
            return self._say("Take a shot from the camera or add a photo first.")
        shots = list(self.shots)
        self.save_button.setEnabled(False)
        self.studio.run_job(lambda recognizer: recognizer.enroll(name, [s.face for s in shots], [s.source for s in shots],
                                                                 source="window", force=force),
                            lambda result: self._enrolled(name, shots, result))

    def _enrolled(self, name: str, shots: list[Shot], result) -> None:
        self.save_button.setEnabled(True)
        if isinstance(result, NotThisPerson):
            question = f"{str(result).removesuffix('.')}: add it anyway?"
            if self.shots == shots and confirm(self, "Not the same person?", question):
                return self.save(force=True)
            return self._say(f"Nothing was enrolled. {result} Discard the new shots, or check the name.")
        if isinstance(result, LikenessError):
            return self._say(str(result))
        if self.shots == shots:
            self.clear_shots()
        self._say(f"Enrolled {name}: {count(result, 'shot')} stored.")
        self.studio.gallery_changed.emit()

    def show_stored_shots(self) -> None:
        """The shots already in the gallery for the name typed (all of them right after enrolling)."""
        name = self.name.text().strip()
        self.stored.clear()
        try:
            thumbnails = self.studio.gallery.thumbnails_of(name) if name else []
        except UnknownPerson:
            thumbnails = []
        except LikenessError as error:  # a shared gallery's server that is away
            self.stored_title.setText(f"The stored shots cannot be shown: {error}")
            return
        for data in thumbnails:
            self.stored.addItem(QListWidgetItem(QIcon(jpeg_pixmap(data, SHOT_PX)), ""))
        self.stored_title.setText(f"Stored for {name}: {count(len(thumbnails), 'shot')}" if thumbnails else
                                  ("Nobody of that name is enrolled yet." if name else ""))

    def clear_shots(self) -> None:
        self.shots.clear()
        self.preview.clear()
        self.capture_timer.stop()
        self.capture_button.setEnabled(True)

    def _say(self, text: str) -> None:
        self.feedback.setText(text)


def confirm(parent, title: str, question: str) -> bool:
    return QMessageBox.question(parent, title, question) == QMessageBox.StandardButton.Yes


def shot_list() -> QListWidget:
    shots = QListWidget()
    shots.setViewMode(QListWidget.ViewMode.IconMode)
    shots.setMovement(QListWidget.Movement.Static)
    shots.setIconSize(QSize(SHOT_PX, SHOT_PX))
    shots.setAcceptDrops(False)  # photos dropped on the list go to the tab
    return shots


def photo_subject(recognizer, path: str, check_size: bool = True):
    """On the pipeline thread: the photo, the face it is of (a PhotoFace) and the id of the encoder that made its
    embedding."""
    image = load_image(path)
    return image, recognizer.find_face(image, where=Path(path).name, check_size=check_size), recognizer.encoder_id
