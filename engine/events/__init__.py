"""Decisions out: each decision becomes a small JSON document (schema in engine/events/decision.py), kept in
a disk-backed outbox (outbox.py) and delivered to an MQTT broker (mqtt.py) and/or a webhook (webhook.py) by
background threads, so the camera and the window never wait. setup.py builds them from Settings and the
command line.
"""
from ..errors import DeliveryError
from .decision import KINDS, Decision, Refused, Sink
from .mqtt import MqttSink
from .outbox import MAX_EVENTS, Outbox, forget_all_in, forget_in
from .setup import (
           add_publish_arguments,
           machine_name,
           outbox_from_settings,
           outbox_path,
           send_test_event,
           sinks_from_settings,
)
from .webhook import WebhookSink

__all__ = ["KINDS", "MAX_EVENTS", "Decision", "DeliveryError", "MqttSink", "Outbox", "Refused", "Sink", "WebhookSink",
           "add_publish_arguments", "forget_all_in", "forget_in", "machine_name", "outbox_from_settings",
           "outbox_path", "send_test_event", "sinks_from_settings"]
