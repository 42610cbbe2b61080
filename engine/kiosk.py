"""Hands-free recognition decisions: a name is announced only when several consecutive frames agree,
and the same person is not announced again before a cooldown.
"""
from __future__ import annotations

from dataclasses import dataclass, field

UNKNOWN = "not recognized"


@dataclass(frozen=True)
class Announcement:
    time: float
    name: str  # a person's name, or UNKNOWN for a stranger
    distance: float


@dataclass
class RecognitionVote:
    frames_to_decide: int = 3
    cooldown: float = 5.0
    _candidate: str | None = None
    _streak: int = 0
    _last_announced: dict = field(default_factory=dict)

    def update(self, match, now: float) -> Announcement | None:
        """Feed the match of the main face of one frame (None when no face); returns a new announcement or None."""
        if match is None:
            self._candidate, self._streak = None, 0
            return None
        name = match.name if match.recognized else UNKNOWN
        self._streak = self._streak + 1 if name == self._candidate else 1
        self._candidate = name
        if self._streak < self.frames_to_decide:
            return None
        last = self._last_announced.get(name)
        if last is not None and now - last < self.cooldown:
            return None
        self._last_announced[name] = now
        return Announcement(now, name, match.distance)

    @property
    def current(self) -> str | None:
        """The name the last frames agree on, once decided."""
        return self._candidate if self._streak >= self.frames_to_decide else None
