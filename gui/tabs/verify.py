"""Verify: is the face in front of the camera (or in a photo) the person it claims to be?

A face from the camera must also pass the liveness check of the window's mode: the passive cues, and in
passive+challenge mode a random challenge first. A photo from disk is verified as it is (it is a photo).
"""
from __future__ import annotations


from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.errors import LikenessError
from engine.faces.liveness import ChallengeSession, ChallengeState, random_actions
from engine.kiosk import liveness_of

from ..dialogs import open_image
from ..thumbnails import chip_pixmap, jpeg_pixmap, photo_pixmap
from .enroll import photo_subject

EVIDENCE_PX = 150


class VerifyTab(QWidget):
    def __init__(self, studio):
        super().__init__()
        self.studio = studio
        self.challenge: ChallengeSession | None = None
        self.awaiting_liveness = False  # decide on the first frontal frame of that face whose liveness is known
        self.track: int | None = None  # the face track being verified
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
        result = self.studio.fresh_result()
        if result is None:
            self.verdict.setText("The camera is not delivering frames: verify a photo instead.")
            return
        if not result.faces:
            self.verdict.setText("No face in the camera.")
            return
        first = result.faces[0]
        self.track = first.liveness.track_id if first.liveness is not None else None
        if self.studio.liveness_mode() == "passive+challenge":
            liveness = self.studio.settings.liveness
            self.challenge = ChallengeSession(random_actions(liveness.challenge_steps), liveness.step_time)
            self.verdict.setText(f"<b>{self.prompt}</b>")
            return
        self.awaiting_liveness = True
        self.on_result(result)

    @property
    def prompt(self) -> str:
        """The running challenge's request ("" when none runs)."""
        if self.challenge is None or self.challenge.status.finished:
            return ""
        status = self.challenge.status
        return f"Please {status.prompt} ({status.step + 1}/{len(status.actions)})"

    def _face_being_checked(self, result):
        """The face on the track the check began with (the largest face when there is no tracking), or None."""
        for face in result.faces:
            if self.track is None or (face.liveness is not None and face.liveness.track_id == self.track):
                return face
        return None

    def on_result(self, result) -> None:
        """Every new pipeline result: feeds a running challenge, then decides on a frontal frame of the same face
        once its liveness is known."""
        if self.challenge is None and not self.awaiting_liveness:
            return
        if result.encoder_id != self.studio.gallery.encoder_id:  # computed just before an encoder switch
            return
        face = self._face_being_checked(result)
        if self.challenge is not None:
            openness = face.liveness.openness if face is not None and face.liveness is not None else None
            status = self.challenge.update(result.frame.timestamp, face.quality.yaw if face else None, openness)
            if not status.finished:
                self.verdict.setText(f"<b>{self.prompt}</b>")
                return
            self.challenge = None
            if status.state is not ChallengeState.PASSED:
                self.show_spoof(face, f"the challenge was not answered ({status.reason})", "challenge_failed")
                return
            self.awaiting_liveness = True
        if face is None:
            return
        if not face.quality.frontal:  # a turned face cannot be compared: wait for it to face the camera
            self.verdict.setText("Now look at the camera…")
            return
        live, why = liveness_of(face, self.studio.liveness_mode())
        if live is None:
            self.verdict.setText("Checking that the face is live…")
            return
        self.awaiting_liveness = False
        if not live:
            self.show_spoof(face, why)
        else:
            self.show_decision(face)

    def show_spoof(self, face, reason: str, kind: str = "spoof") -> None:
        self.studio.record(kind, self.claim.currentText() or None, face=face, reasons=(reason,))
        self.verdict.setText(f"<span style='font-size:20px; color:#e67e22'><b>Spoof suspected</b></span><br>{reason}")
        if face is not None:
            self.enrolled_shot.clear()
            self.presented.setPixmap(chip_pixmap(face.chip, EVIDENCE_PX))
        self._show_headings()

    def verify_photo(self, path: str | None = None) -> None:
        path = path or open_image(self, "Photo to verify")
        if path:
            self.challenge, self.awaiting_liveness = None, False  # the photo's answer replaces the camera's
            self.studio.run_job(lambda recognizer: photo_subject(recognizer, path, check_size=False),
                                self._photo_done)

    def _photo_done(self, result) -> None:
        if isinstance(result, LikenessError):
            self.verdict.setText(str(result))
            return
        image, photo, encoder = result
        if encoder != self.studio.gallery.encoder_id:  # asked for before the encoder changed
            return
        self.show_decision(photo.face)
        if len(photo.faces) > 1:  # which face was verified
            self.presented.setPixmap(photo_pixmap(image, [f.box for f in photo.faces], photo.index, EVIDENCE_PX))

    def show_decision(self, face) -> None:
        """Compare the face with the claimed person on the pipeline thread (which logs the decision)."""
        name = self.claim.currentText()
        if not name:
            self.verdict.setText("Nobody is enrolled yet: enroll someone first.")
            return
        self.studio.run_job(lambda recognizer: recognizer.verify(name, face, "window"),
                            lambda result: self._decided(name, face, result))

    def _decided(self, name: str, face, result) -> None:
        if isinstance(result, LikenessError):
            self.verdict.setText(str(result))
            return
        color, verdict = ("#2ecc71", f"Same person: {name}") if result.same else ("#e74c3c", f"Not {name}")
        self.verdict.setText(f"<span style='font-size:20px; color:{color}'><b>{verdict}</b></span><br>"
                             f"{result.evidence()}")
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
