"""File dialogs that offer every image format Likeness reads and open where the user last was (at first, the
user's Pictures folder), remembered across sessions in window.ini."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

from engine.config import config_dir
from engine.images import IMAGE_SUFFIXES

IMAGES = "Images ({});;All files (*)".format(" ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES)))


def _state() -> QSettings:
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


def start_folder() -> str:
    """The folder of the last file chosen, else the user's Pictures folder, else their home."""
    last = _state().value("last_folder", "")
    if last and Path(str(last)).is_dir():
        return str(last)
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return pictures if pictures and Path(pictures).is_dir() else str(Path.home())


def _remember_folder(folder: str) -> None:
    state = _state()
    state.setValue("last_folder", folder)
    state.sync()


def _remember(path: str) -> str:
    if path:
        _remember_folder(str(Path(path).parent))
    return path


def open_image(parent: QWidget, title: str) -> str:
    return _remember(QFileDialog.getOpenFileName(parent, title, start_folder(), IMAGES)[0])


def open_images(parent: QWidget, title: str) -> list[str]:
    paths = QFileDialog.getOpenFileNames(parent, title, start_folder(), IMAGES)[0]
    if paths:
        _remember(paths[0])
    return paths


def open_file(parent: QWidget, title: str, kinds: str) -> str:
    return _remember(QFileDialog.getOpenFileName(parent, title, start_folder(), kinds)[0])


def open_folder(parent: QWidget, title: str) -> str:
    folder = QFileDialog.getExistingDirectory(parent, title, start_folder())
    if folder:
        _remember_folder(folder)
    return folder


def save_file(parent: QWidget, title: str, name: str, kinds: str) -> str:
    return _remember(QFileDialog.getSaveFileName(parent, title, str(Path(start_folder()) / name), kinds)[0])
