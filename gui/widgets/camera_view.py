"""CameraView: the newest frame, scaled to fit, with each face's decision (engine.streams) drawn on it."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def face_label(decision) -> tuple[str, QColor]:
    """What is drawn on a face: the words and the colour of its stream decision (engine.streams: the rule)."""
    return decision.label, QColor(decision.colour)


class CameraView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.image: QImage | None = None
        self.faces: list = []  # engine.streams.FaceDecision of each face, as the stream decided
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
