"""Face chips, stored JPEG thumbnails and photos with their faces boxed, as Qt pixmaps."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap

from .widgets.camera_view import to_qimage


def chip_pixmap(chip_rgb: np.ndarray, size: int) -> QPixmap:
    return QPixmap.fromImage(to_qimage(chip_rgb)).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                                          Qt.TransformationMode.SmoothTransformation)


def jpeg_pixmap(data: bytes | None, size: int) -> QPixmap:
    pixmap = QPixmap()
    if data:
        pixmap.loadFromData(data, "JPG")
        pixmap = pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return pixmap


def photo_pixmap(image_rgb: np.ndarray, boxes, taken: int, size: int) -> QPixmap:
    """The photo scaled to fit `size`, every face boxed: the face taken in green, the others in grey."""
    pixmap = chip_pixmap(image_rgb, size)
    scale = pixmap.width() / image_rgb.shape[1]
    painter = QPainter(pixmap)
    for index, (x1, y1, x2, y2) in enumerate(np.asarray(boxes) * scale):
        painter.setPen(QPen(QColor("#2ecc71") if index == taken else QColor("#95a5a6"), 3 if index == taken else 1))
        painter.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
    painter.end()
    return pixmap
