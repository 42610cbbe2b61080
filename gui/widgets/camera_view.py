"""CameraView: the newest frame, scaled to fit, with a box, a name and the distances of each face."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


RECOGNIZED, UNKNOWN, UNDECIDED = QColor(46, 204, 113), QColor(231, 76, 60), QColor(241, 196, 15)
SPOOF = QColor(230, 126, 34)


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def face_label(face) -> tuple[str, QColor]:
    match = face.match
    if face.liveness is not None and face.liveness.settled and not face.liveness.verdict.live:
        who = f"  (looks like {match.name})" if match is not None and match.recognized else ""
        return f"spoof suspected{who}", SPOOF
    if match is None:
        return "face (nobody enrolled yet)", UNDECIDED
    probability = f" p={match.probability:.2f}" if match.probability is not None else ""
    if match.recognized:
        margin = f"  margin {match.margin:.2f}" if np.isfinite(match.margin) else ""
        return f"{match.name}  d={match.distance:.2f}{probability}{margin}", RECOGNIZED
    closest = f"(closest {match.best_name} d={match.distance:.2f}{probability})"
    if not face.quality.frontal:  # a profile is not a stranger: the encoder cannot tell (nor does the kiosk)
        return f"turned away  {closest}", UNDECIDED
    return f"unknown  {closest}", UNKNOWN


class CameraView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.image: QImage | None = None
        self.faces: list = []
        self.message = "Starting the camera…"
        self.banner = ""  # a large line at the bottom (the kiosk's decision)
        self.painted_frames = 0

    def show_frame(self, rgb: np.ndarray, faces: list) -> None:
        self.image, self.faces, self.message = to_qimage(rgb), faces, ""
        self.update()

    def show_faces(self, faces: list) -> None:
        self.faces = faces
        self.update()

    def show_message(self, text: str) -> None:
        self.message = text
        self.update()

    def camera_gone(self, text: str) -> None:
        """No camera any more: neither its last frame nor the faces found on it stay on screen."""
        self.image, self.faces = None, []
        self.show_message(text)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 20, 20))
        if self.image is not None:
            scale = min(self.width() / self.image.width(), self.height() / self.image.height())
            target = QRectF(0, 0, self.image.width() * scale, self.image.height() * scale)
            target.moveCenter(QRectF(self.rect()).center())
            painter.drawImage(target, self.image)
            self._draw_faces(painter, target.topLeft(), scale)
        painter.setPen(QColor(230, 230, 230))
        if self.message:
            painter.setFont(QFont(self.font().family(), 14))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
        if self.banner:
            painter.setFont(QFont(self.font().family(), 28, QFont.Weight.Bold))
            strip = QRectF(0, self.height() - 80, self.width(), 80)
            painter.fillRect(strip, QColor(0, 0, 0, 150))
            painter.drawText(strip, Qt.AlignmentFlag.AlignCenter, self.banner)
        painter.end()
        self.painted_frames += 1

    def _draw_faces(self, painter: QPainter, origin, scale: float) -> None:
        painter.setFont(QFont(self.font().family(), 11, QFont.Weight.Bold))
        for face in self.faces:
            text, color = face_label(face)
            x1, y1, x2, y2 = (float(v) * scale for v in face.box)
            box = QRectF(origin.x() + x1, origin.y() + y1, x2 - x1, y2 - y1)
            painter.setPen(QPen(color, 3))
            painter.drawRect(box)
            width = max(box.width(), painter.fontMetrics().horizontalAdvance(text) + 10.0)
            above = box.top() - 24 if box.top() >= 24 else box.bottom() + 2  # below the box at the top edge
            label = QRectF(min(box.left(), self.width() - width), above, width, 22)
            painter.fillRect(label, color)
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(label.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)
