"""Verify: is the face in front of the camera (or in a photo) the person it claims to be?"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.errors import LikenessError
from engine.match import verify
from engine.pipeline import load_image

from ..thumbnails import chip_pixmap, jpeg_pixmap

EVIDENCE_PX = 150


class VerifyTab(QWidget):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.claim = QComboBox()
        live, photo = QPushButton("Verify the face in the camera"), QPushButton("Verify a photo…")
        live.clicked.connect(self.verify_live)
        photo.clicked.connect(lambda: self.verify_photo())
        self.verdict = QLabel("Choose who the person claims to be, then present the face.")
        self.verdict.setWordWrap(True)
        self.enrolled_shot, self.presented = QLabel(), QLabel()
        evidence = QGridLayout()
        evidence.addWidget(QLabel("enrolled"), 0, 0)
        evidence.addWidget(QLabel("presented"), 0, 1)
        evidence.addWidget(self.enrolled_shot, 1, 0)
        evidence.addWidget(self.presented, 1, 1)
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
        self.claim.addItems([p.name for p in self.studio.gallery.people()])
        if current:
            self.claim.setCurrentText(current)

    def verify_live(self) -> None:
        result = self.studio.fresh_result()
        if result is None:
            self.verdict.setText("The camera is not delivering frames: verify a photo instead.")
            return
        if not result.faces:
            self.verdict.setText("No face in the camera.")
            return
        self.show_decision(result.faces[0])

    def verify_photo(self, path: str | None = None) -> None:
        path = path or QFileDialog.getOpenFileName(self, "Photo to verify", "", "Images (*.jpg *.jpeg *.png *.bmp)")[0]
        if path:
            self.studio.run_job(
                lambda pipeline: pipeline.embed_one(load_image(path), where=Path(path).name, take_largest=True,
                                                    check_size=False),
                self._photo_done)

    def _photo_done(self, result) -> None:
        if isinstance(result, LikenessError):
            self.verdict.setText(str(result))
        else:
            self.show_decision(result)

    def show_decision(self, face) -> None:
        name = self.claim.currentText()
        if not name:
            self.verdict.setText("Nobody is enrolled yet: enroll someone first.")
            return
        gallery, tau = self.studio.gallery, self.studio.settings.recognition.tau
        result = verify(face.embedding, gallery.embeddings_of(name), tau)
        self.studio.log_event("verify", name, result.distance, "accepted" if result.same else "rejected")
        colour, verdict = ("#2ecc71", f"Same person: {name}") if result.same else ("#e74c3c", f"Not {name}")
        sign = "≤" if result.same else ">"
        self.verdict.setText(f"<span style='font-size:20px; color:{colour}'><b>{verdict}</b></span><br>"
                             f"distance {result.distance:.3f} {sign} τ {tau:.3f}")
        thumbnails = gallery.thumbnails_of(name)
        self.enrolled_shot.setPixmap(jpeg_pixmap(thumbnails[0] if thumbnails else None, EVIDENCE_PX))
        self.presented.setPixmap(chip_pixmap(face.chip, EVIDENCE_PX))
