"""Counts in words: "1 shot", "2 shots", "1 person", "3 people"."""
from __future__ import annotations

IRREGULAR = {"person": "people", "try": "tries"}


def count(number: int, noun: str) -> str:
    return f"{number} {noun if number == 1 else IRREGULAR.get(noun, noun + 's')}"
