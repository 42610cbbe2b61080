"""Shared test set-up: Qt without a display, and a private home so no test touches the user's data."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Settings and gallery of each test live in its own temporary folder."""
    monkeypatch.setenv("LIKENESS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
