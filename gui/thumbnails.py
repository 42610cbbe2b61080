"""Face chips and stored JPEG thumbnails as Qt pixmaps."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap

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
