"""Editors that a scrolling hand cannot change by accident, and number boxes that say when they clamp."""
from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QDoubleSpinBox, QSpinBox, QWidget


class WheelGuard(QObject):
    """Number boxes and lists take the mouse wheel only once clicked (focused): scrolling a panel over them
    scrolls the panel and changes nothing."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:  # handed to the panel itself (Qt passes on only the wheel events of a real mouse)
            QApplication.sendEvent(area.viewport(), event)
        return True

    def guard(self, editor: QWidget) -> QWidget:
        editor.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not focused by the wheel itself
        editor.installEventFilter(self)
        return editor


NUMBER_CHARACTERS = set("0123456789+-.eE ")


class _TypedNumber:
    """Lets any number be typed, so that one out of range is clamped to the range and the tab can say so
    (`clamped_from`), instead of keystrokes such as "-" being silently refused."""

    typed: float | None = None

    @staticmethod
    def _parse(text: str) -> float:
        raise NotImplementedError

    def validate(self, text: str, position: int):
        if set(text) - NUMBER_CHARACTERS:
            return QValidator.State.Invalid, text, position
        try:
            self._parse(text.strip())
        except ValueError:  # "", "-", "1e": on the way to a number
            return QValidator.State.Intermediate, text, position
        return QValidator.State.Acceptable, text, position

    def valueFromText(self, text: str):
        self.typed = self._parse(text.strip())
        return self.typed

    def clamped_from(self) -> float | None:
        """The number typed when the box had to clamp it (the box now shows the nearest end of its range)."""
        typed, self.typed = self.typed, None
        value = self.value()  # type: ignore[attr-defined]
        if typed is None or abs(typed - value) <= 0.5 * 10 ** -self.decimals():  # type: ignore[attr-defined]
            return None
        return typed


class IntBox(_TypedNumber, QSpinBox):
    @staticmethod
    def _parse(text: str) -> int:
        return int(text)

    def decimals(self) -> int:
        return 0


class FloatBox(_TypedNumber, QDoubleSpinBox):
    @staticmethod
    def _parse(text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(text)
        return number
