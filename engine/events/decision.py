"""One decision as an event document.

Event document (UTF-8 JSON, one object; `Decision.to_json`):

    {
      "version": 1,                    # bumped only if a field changes meaning
      "id": "9f0c3a1e...",             # 32 hex characters; the same on every retry: drop duplicates by it
      "time": "2025-05-02T07:58:03.412+00:00",   # ISO 8601, UTC, when the decision was made
      "kind": "recognized",            # recognized | unknown | spoof | challenge_failed | verified | rejected
                                       # | enrolled | deleted | test
      "machine": "front-door",         # Settings > Integrations > machine name, else the host name
      "source": "kiosk",               # kiosk | cli | window | watch | settings
      "name": "Ada Lovelace",          # the person decided on (claimed or closest for spoof/rejected), or null
      "distance": 0.412,               # embedding distance to that person, or null
      "margin": 0.187,                 # distance to the runner-up minus distance to the best, or null
      "live": true,                    # liveness verdict; null when liveness was not checked
      "spoof_score": 0.13,             # passive anti-spoofing score (0 live .. 1 spoof), or null
      "reasons": ["blink seen"],       # sentences behind the verdict, possibly empty
      "thumbnail": "/9j/4AAQ..."       # base64 JPEG of the face, present only when send_thumbnails is on
    }

MQTT: topic `<prefix>/<machine>/<kind>` (QoS 1, not retained); `<prefix>/<machine>/status` is "online"
(retained) while connected and "offline" (retained, the Last Will) once the kiosk is gone;
`<prefix>/<machine>/last_seen/<name>` (retained, optional) holds the last "recognized" document per person;
a "deleted" event empties it (the broker then forgets the retained message).
Webhook: POST of the same document, `Content-Type: application/json`, `X-Likeness-Event-Id: <id>` and, when
LIKENESS_WEBHOOK_SECRET is set, `X-Likeness-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`; any 2xx
answer is a delivery; a 4xx answer other than 408 and 429 refuses that event for good (it is dropped, with a
warning in the log). Delivery is at least once: a receiver sees the same id again after a lost reply.
"""
from __future__ import annotations

import base64
import json
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Protocol
from uuid import uuid4

from ..errors import DeliveryError

KINDS = ("recognized", "unknown", "spoof", "challenge_failed", "verified", "rejected", "enrolled", "deleted", "test")
SCHEMA_VERSION = 1


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Decision:
    """One decision to publish; `kind` is one of KINDS."""
    kind: str
    name: str | None = None
    distance: float | None = None
    margin: float | None = None
    live: bool | None = None
    spoof_score: float | None = None
    reasons: tuple[str, ...] = ()
    thumbnail_jpeg: bytes | None = None
    source: str = ""
    id: str = field(default_factory=lambda: uuid4().hex)
    time: str = field(default_factory=_utc_now)
    machine: str = field(default_factory=socket.gethostname)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown decision kind {self.kind!r}; one of {', '.join(KINDS)}")

    def to_json(self, with_thumbnail: bool) -> bytes:
        """The event document (see the module docstring); the thumbnail only when asked for and present."""
        document = {"version": SCHEMA_VERSION, **asdict(self)}
        thumbnail = document.pop("thumbnail_jpeg")
        document["reasons"] = [str(reason) for reason in self.reasons]
        document["live"] = None if self.live is None else bool(self.live)  # numpy's bool is not JSON
        for key in ("distance", "margin", "spoof_score"):
            if document[key] is not None:
                document[key] = round(float(document[key]), 6)
        if with_thumbnail and thumbnail:
            document["thumbnail"] = base64.b64encode(thumbnail).decode("ascii")
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> Decision:
        document = json.loads(body)
        document.pop("version", None)
        thumbnail = document.pop("thumbnail", None)
        document["reasons"] = tuple(document.get("reasons", ()))
        return cls(**document, thumbnail_jpeg=base64.b64decode(thumbnail) if thumbnail else None)


class Refused(DeliveryError):
    """The other side refused this event for good (trying it again cannot help): the outbox drops it."""
    permanent = True


class Sink(Protocol):
    """A destination. `name` is stable across runs (the outbox keys pending rows by it). A sink may also have
    `open()` (connect now; raises DeliveryError), which its outbox thread calls before anything else."""
    name: str

    def deliver(self, decision: Decision) -> None:
        """Hand one decision over, returning once the other side acknowledged it; raises DeliveryError, or
        Refused when this event can never be delivered."""

    def close(self) -> None: ...

