"""Sinks and the outbox from Settings › Integrations and the command line; the "Send a test event" check."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..config import data_dir, make_data_dir
from ..errors import DeliveryError, LikenessError
from .decision import Decision, Sink
from .mqtt import MqttSink, secret_from_env
from .outbox import Outbox
from .webhook import WebhookSink

OUTBOX_FILE = "outbox.sqlite"


def machine_name(settings) -> str:
    """This kiosk's name in events and topics: the setting, else the host name."""
    return settings.integrations.machine_name or socket.gethostname()


def outbox_path() -> Path:
    """The outbox file of the window, the kiosk and the command line (for Outbox.forget_in when no outbox is
    open); the data folder is not created."""
    return data_dir() / OUTBOX_FILE


def sinks_from_settings(settings, *, mqtt_url: str | None = None, webhook_url: str | None = None,
                        status: bool = True) -> list[Sink]:
    """The configured sinks; a URL given here replaces the setting's ("" turns that sink off).
    Raises BadInput, one sentence, for a URL that cannot be used."""
    chosen = settings.integrations
    mqtt_url = chosen.mqtt_url if mqtt_url is None else mqtt_url
    webhook_url = chosen.webhook_url if webhook_url is None else webhook_url
    sinks: list[Sink] = []
    if mqtt_url:
        sinks.append(MqttSink(mqtt_url, machine=machine_name(settings), prefix=chosen.topic_prefix,
                              retain_last_seen=chosen.retain_last_seen, thumbnails=chosen.send_thumbnails,
                              status=status))
    if webhook_url:
        sinks.append(WebhookSink(webhook_url, secret=secret_from_env("LIKENESS_WEBHOOK_SECRET"),
                                 timeout=chosen.webhook_timeout, thumbnails=chosen.send_thumbnails,
                                 link_local=chosen.webhook_link_local))
    return sinks


def outbox_from_settings(settings, *, mqtt_url: str | None = None, webhook_url: str | None = None,
                         path: Path | None = None, status: bool = True) -> Outbox | None:
    """The outbox (default file: outbox.sqlite in the data folder) for the configured sinks; None when there
    is none. status: say on MQTT that this machine is online (the window and the kiosk; not a one-off command).
    A one-off command keeps the undelivered events of other destinations in the file (its --mqtt or --webhook
    is not a change of the settings); the window and the kiosk delete those of destinations no longer set.
    Close it when done; the command line flushes it first."""
    sinks = sinks_from_settings(settings, mqtt_url=mqtt_url, webhook_url=webhook_url, status=status)
    if not sinks:
        return None
    return Outbox(path or make_data_dir() / OUTBOX_FILE, sinks, keep_others=not status)


def add_publish_arguments(parser) -> None:
    """--mqtt URL and --webhook URL; their defaults come from LIKENESS_MQTT_URL and LIKENESS_WEBHOOK_URL."""
    parser.add_argument("--mqtt", metavar="URL", default=os.environ.get("LIKENESS_MQTT_URL"),
                        help="publish decisions to this MQTT broker, e.g. mqtt://127.0.0.1:1883 (default: "
                             "LIKENESS_MQTT_URL, else Settings › Integrations; user and password from "
                             "LIKENESS_MQTT_USER and LIKENESS_MQTT_PASSWORD or LIKENESS_MQTT_PASSWORD_FILE)")
    parser.add_argument("--webhook", metavar="URL", default=os.environ.get("LIKENESS_WEBHOOK_URL"),
                        help="POST decisions to this URL (default: LIKENESS_WEBHOOK_URL, else Settings › "
                             "Integrations), signed with LIKENESS_WEBHOOK_SECRET")


def send_test_event(settings) -> str:
    """Send one "test" event straight to each configured sink (no outbox) and say what happened, e.g.
    "delivered in 12 ms" or "broker refused: not authorised". Takes up to the sinks' timeouts: call it off
    the UI thread."""
    try:
        sinks = sinks_from_settings(settings, status=False)
    except LikenessError as error:
        return str(error)
    if not sinks:
        return "Nothing to send to: set an MQTT broker or a webhook URL."
    results = [(sink.name, _try(sink, Decision("test", source="settings", machine=machine_name(settings))))
               for sink in sinks]
    return results[0][1] if len(results) == 1 else "; ".join(f"{name}: {result}" for name, result in results)


def _try(sink: Sink, decision: Decision) -> str:
    start = time.perf_counter()
    try:
        sink.deliver(decision)
        return f"delivered in {(time.perf_counter() - start) * 1000:.0f} ms"
    except DeliveryError as error:
        return str(error)
    finally:
        sink.close()
