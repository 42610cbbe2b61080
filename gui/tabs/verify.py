"""Verify: is the face in front of the camera (or in a photo) the person it claims to be?

A face from the camera is checked on the pipeline thread (engine.streams.VerifyStream): the liveness check of
the window's mode (the passive cues, and in passive+challenge mode a random challenge first), then the 1:1
decision; this tab paints each VerifyUpdate. A photo from disk is verified as it is (it is a photo).
"""
from __future__ import annotations


from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.errors import LikenessError
from engine.streams import Kind, VerifyUpdate

from ..dialogs import open_image
from ..thumbnails import chip_pixmap, jpeg_pixmap, photo_pixmap
from .enroll import photo_subject

EVIDENCE_PX = 150


class VerifyTab(QWidget):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.update_shown: VerifyUpdate | None = None  # the camera check's newest state
        self.claim = QComboBox()
        live, photo = QPushButton("Verify the face in the camera"), QPushButton("Verify a photo…")
        live.clicked.connect(self.verify_live)
        photo.clicked.connect(lambda: self.verify_photo())
        self.verdict = QLabel("Choose who the person claims to be, then present the face.")
        self.verdict.setWordWrap(True)
        self.enrolled_shot, self.presented = QLabel(), QLabel()
        self.headings = (QLabel("Enrolled shot"), QLabel("Presented face"))  # shown with something under them
        evidence = QGridLayout()
        for column, (heading, picture) in enumerate(zip(self.headings, (self.enrolled_shot, self.presented))):
            heading.hide()
            evidence.addWidget(heading, 0, column)
            evidence.addWidget(picture, 1, column)
        layout = QVBoxLayout(self)
        for widget in (QLabel("Claimed identity:"), self.claim, live, photo, self.verdict):
            layout.addWidget(widget)
        layout.addLayout(evidence)
        layout.addStretch()
        studio.gallery_changed.connect(self.refresh_people)
        self.refresh_people()

    def refresh_people(self) -> None:
        current = self.claim.currentText()
        self.claim.clear()
        self.claim.addItems(self.studio.gallery.names())
        if current:
            self.claim.setCurrentText(current)

    def verify_live(self) -> None:
        name = self.claim.currentText()
        if not name:
            self.verdict.setText("Nobody is enrolled yet: enroll someone first.")
            return
        if self.studio.fresh_result() is None:
            self.verdict.setText("The camera is not delivering frames: verify a photo instead.")
            return
        self.update_shown = None
        self.verdict.setText("Looking at the camera…")
        self.studio.verify_live(name)

    @property
    def prompt(self) -> str:
        """The running challenge's request ("" when none runs)."""
        update = self.update_shown
        return update.message if update is not None and update.kind is Kind.CHALLENGE_RUNNING else ""

    def show_update(self, update: VerifyUpdate) -> None:
        """What the camera check decided or asks for now (from the pipeline thread)."""
        self.update_shown = update
        kind = update.kind
        if kind is Kind.CHALLENGE_RUNNING:
            self.verdict.setText(f"<b>{update.message}</b>")
        elif kind in (Kind.SPOOF, Kind.CHALLENGE_FAILED):
            self.verdict.setText(f"<span style='font-size:20px; color:{kind.colour}'><b>Spoof suspected</b></span>"
                                 f"<br>{update.message}")
            if update.face is not None:
                self.enrolled_shot.clear()
                self.presented.setPixmap(chip_pixmap(update.face.chip, EVIDENCE_PX))
                self._show_headings()
        elif kind in (Kind.VERIFIED, Kind.REJECTED):
            self._show_verdict(update.claim, update.face, kind, update.message)
        else:
            self.verdict.setText(update.message)

    def verify_photo(self, path: str | None = None) -> None:
        path = path or open_image(self, "Photo to verify")
        if path:
            self.studio.verify_live(None)  # the photo's answer replaces the camera's
            self.update_shown = None
            self.studio.run_job(lambda recognizer: photo_subject(recognizer, path, check_size=False),
                                self._photo_done)

    def _photo_done(self, result) -> None:
        if isinstance(result, LikenessError):
            self.verdict.setText(str(result))
            return
        image, photo, encoder = result
        if encoder != self.studio.gallery.encoder_id:  # asked for before the encoder changed
            return
        self._verify_photo_face(photo.face)
        if len(photo.faces) > 1:  # which face was verified
            self.presented.setPixmap(photo_pixmap(image, [f.box for f in photo.faces], photo.index, EVIDENCE_PX))

    def _verify_photo_face(self, face) -> None:
        """Compare the photo's face with the claimed person on the pipeline thread (which logs the decision)."""
        name = self.claim.currentText()
        if not name:
            self.verdict.setText("Nobody is enrolled yet: enroll someone first.")
            return
        self.studio.run_job(lambda recognizer: recognizer.verify(name, face, "window"),
                            lambda result: self._photo_decided(name, face, result))

    def _photo_decided(self, name: str, face, result) -> None:
        if isinstance(result, LikenessError):
            self.verdict.setText(str(result))
            return
        self._show_verdict(name, face, Kind.VERIFIED if result.same else Kind.REJECTED, result.evidence())

    def _show_verdict(self, name: str, face, kind: Kind, evidence: str) -> None:
        verdict = f"Same person: {name}" if kind is Kind.VERIFIED else f"Not {name}"
        self.verdict.setText(f"<span style='font-size:20px; color:{kind.colour}'><b>{verdict}</b></span><br>"
                             f"{evidence}")
        try:
            thumbnails = self.studio.gallery.thumbnails_of(name)
        except LikenessError:  # deleted meanwhile
            thumbnails = []
        self.enrolled_shot.setPixmap(jpeg_pixmap(thumbnails[0] if thumbnails else None, EVIDENCE_PX))
        self.presented.setPixmap(chip_pixmap(face.chip, EVIDENCE_PX))
        self._show_headings()

    def _show_headings(self) -> None:
        for heading, picture in zip(self.headings, (self.enrolled_shot, self.presented)):
            heading.setVisible(not picture.pixmap().isNull())
