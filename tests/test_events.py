"""Decisions out: a real mosquitto on loopback and a real HTTP receiver; nothing of the network is mocked."""
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import IntegrationsSettings, Settings
from engine.errors import SettingsError
from engine.events import (
    Decision,
    MqttSink,
    Outbox,
    WebhookSink,
    add_publish_arguments,
    outbox_from_settings,
    send_test_event,
)
from mqtt_broker import Listener, Receiver, free_port, needs_broker, wait_until

FAST = (0.05, 0.3)  # retry back-off of the tests' outboxes, s
SECRET = "door-secret"


def decisions() -> list[Decision]:
    return [Decision("recognized", name="Ada", distance=0.41, margin=0.2, live=True, spoof_score=0.1, source="kiosk",
                     machine="door", reasons=("blink seen",)),
            Decision("unknown", distance=0.9, source="kiosk", machine="door", thumbnail_jpeg=b"\xff\xd8face"),
            Decision("spoof", name="Ada", distance=0.45, live=False, spoof_score=0.98, source="kiosk", machine="door",
                     reasons=("a phone border around the face",))]


def expected(decision: Decision) -> dict:
    return json.loads(decision.to_json(with_thumbnail=False))


@needs_broker
def test_each_decision_arrives_once_on_its_topic_with_its_content(broker, tmp_path):
    listener = Listener(broker.port)
    sent = decisions()
    with Outbox(tmp_path / "outbox.sqlite", [MqttSink(broker.url, machine="door")], retry=FAST) as outbox:
        for decision in sent:
            outbox.publish(decision)
        assert outbox.flush(5)
        assert outbox.pending() == 0
    assert wait_until(lambda: len(listener.events()) >= 3)
    time.sleep(0.2)  # nothing more comes
    topics = [topic for topic, _, _ in listener.messages if "/status" not in topic]
    assert topics == ["likeness/door/recognized", "likeness/door/unknown", "likeness/door/spoof"]
    assert listener.events() == [expected(d) for d in sent]
    first = listener.events()[0]
    assert first["version"] == 1 and first["name"] == "Ada" and first["live"] is True and "thumbnail" not in first
    assert first["time"].endswith("+00:00") and len(first["id"]) == 32
    statuses = [payload for topic, payload, _ in listener.messages if topic == "likeness/door/status"]
    assert statuses == [b"online", b"offline"]  # a clean close says offline itself
    listener.close()


@needs_broker
def test_thumbnails_are_sent_only_when_turned_on_and_last_seen_is_retained(broker, tmp_path):
    listener = Listener(broker.port)
    sink = MqttSink(broker.url, machine="door", thumbnails=True, retain_last_seen=True)
    for decision in decisions():
        sink.deliver(decision)
    sink.close()
    assert wait_until(lambda: listener.events("unknown"))
    assert listener.events("unknown")[0]["thumbnail"] == "/9hmYWNl"  # base64 of the JPEG bytes
    late = Listener(broker.port, topic="likeness/door/last_seen/#")
    assert wait_until(lambda: late.messages)
    topic, payload, retained = late.messages[0]
    assert (topic, retained, json.loads(payload)["name"]) == ("likeness/door/last_seen/Ada", True, "Ada")
    assert "thumbnail" not in json.loads(payload)
    listener.close()
    late.close()


@needs_broker
def test_the_last_will_says_offline_when_the_kiosk_dies(broker):
    listener = Listener(broker.port, topic="likeness/dying/status")
    script = ("import os; from engine.events import Decision, MqttSink; "
              f"MqttSink({broker.url!r}, machine='dying').deliver(Decision('test')); os._exit(0)")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=20, cwd=Path(__file__).parent.parent)
    assert wait_until(lambda: len(listener.messages) >= 2)
    assert [payload for _, payload, _ in listener.messages] == [b"online", b"offline"]
    listener.close()


@needs_broker
def test_a_broker_stopped_mid_run_loses_nothing_and_duplicates_keep_their_id(broker, tmp_path):
    listener = Listener(broker.port, client_id="attendance-sheet")  # a persistent session, as a real receiver has
    sent = [Decision("recognized", name=f"person {i}", machine="door") for i in range(30)]
    sink = MqttSink(broker.url, machine="door", timeout=0.5)
    with Outbox(tmp_path / "outbox.sqlite", [sink], retry=FAST) as outbox:
        for i, decision in enumerate(sent):
            if i == 10:
                broker.stop()
            if i == 20:
                broker.start()
            outbox.publish(decision)
            time.sleep(0.02)
        assert outbox.flush(10)
    assert wait_until(lambda: {e["id"] for e in listener.events()} == {d.id for d in sent}, timeout=5)
    by_id = {}
    for event in listener.events():
        assert by_id.setdefault(event["id"], event) == event  # a duplicate is the same document
    assert [by_id[d.id] for d in sent] == [expected(d) for d in sent]
    listener.close()


@needs_broker
def test_the_test_event_says_what_happened(broker, monkeypatch):
    def result(url):
        return send_test_event(Settings(integrations=IntegrationsSettings(mqtt_url=url)))

    secure = f"mqtt://127.0.0.1:{broker.secure_port}"
    assert result(secure) == "broker refused: not authorised"
    monkeypatch.setenv("LIKENESS_MQTT_USER", "kiosk")
    monkeypatch.setenv("LIKENESS_MQTT_PASSWORD", "wrong")
    assert result(secure).startswith("broker refused:")
    monkeypatch.delenv("LIKENESS_MQTT_PASSWORD")
    (password_file := broker.folder / "kiosk.password").write_text("s3cret\n")
    monkeypatch.setenv("LIKENESS_MQTT_PASSWORD_FILE", str(password_file))
    assert result(secure).startswith("delivered in ") and result(secure).endswith(" ms")
    assert result(f"mqtt://127.0.0.1:{free_port()}").startswith("cannot reach the MQTT broker at mqtt://127.0.0.1:")
    assert send_test_event(Settings()) == "Nothing to send to: set an MQTT broker or a webhook URL."


def test_the_webhook_gets_signed_json_with_the_event_id(receiver, tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", SECRET)
    settings = Settings(integrations=IntegrationsSettings(machine_name="door"))
    sent = decisions()
    outbox = outbox_from_settings(settings, webhook_url=receiver.url, path=tmp_path / "outbox.sqlite")
    for decision in sent:
        outbox.publish(decision)
    assert outbox.flush(5)
    outbox.close()
    assert len(receiver.requests) == 3
    for (headers, body), decision in zip(receiver.requests, sent):
        mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Likeness-Signature"], f"sha256={mac}")
        assert headers["X-Likeness-Event-Id"] == decision.id and headers["Content-Type"] == "application/json"
        assert json.loads(body) == expected(decision)


def test_a_refusing_webhook_is_tried_again_with_the_same_id(tmp_path):
    receiver = Receiver(answers=[500, 503])
    with Outbox(tmp_path / "outbox.sqlite", [WebhookSink(receiver.url, secret=SECRET)], retry=FAST) as outbox:
        outbox.publish(decision := Decision("verified", name="Ada"))
        assert outbox.flush(5)
    assert [body["id"] for body in receiver.bodies()] == [decision.id] * 3
    receiver.close()


@needs_broker
def test_a_hanging_receiver_delays_neither_publish_nor_the_broker(broker, tmp_path):
    receiver = Receiver(answers=["hang"] * 20)
    listener = Listener(broker.port)
    sinks = [WebhookSink(receiver.url, secret=SECRET, timeout=0.3), MqttSink(broker.url, machine="door")]
    with Outbox(tmp_path / "outbox.sqlite", sinks, retry=FAST) as outbox:
        slowest = 0.0
        for i in range(20):
            start = time.perf_counter()
            outbox.publish(Decision("recognized", name=f"person {i}"))
            slowest = max(slowest, time.perf_counter() - start)
            time.sleep(0.01)
        assert slowest < 0.05
        assert wait_until(lambda: len(listener.events()) == 20, timeout=3)  # MQTT went on meanwhile
        assert outbox.pending() >= 1  # the webhook's are still waiting
    listener.close()
    receiver.close()


def test_an_outbox_reopened_after_close_delivers_what_was_pending(tmp_path):
    port = free_port()  # nothing listens there yet
    url = f"http://127.0.0.1:{port}/likeness"
    first = Outbox(tmp_path / "outbox.sqlite", [WebhookSink(url, secret=SECRET, timeout=0.5)], retry=FAST)
    sent = decisions()
    for decision in sent:
        first.publish(decision)
    assert not first.flush(0.2) and first.pending() == 3
    first.close()
    receiver = Receiver(port=port)
    with Outbox(tmp_path / "outbox.sqlite", [WebhookSink(url, secret=SECRET)], retry=FAST) as second:
        assert second.flush(5)
    assert [body["id"] for body in receiver.bodies()] == [d.id for d in sent]
    receiver.close()


def test_the_outbox_keeps_at_most_its_limit_and_says_what_it_dropped(tmp_path, caplog):
    url = f"http://127.0.0.1:{free_port()}/likeness"
    path = tmp_path / "outbox.sqlite"
    with caplog.at_level(logging.WARNING), Outbox(path, [WebhookSink(url, secret=SECRET)], limit=5) as outbox:
        for i in range(8):
            outbox.publish(Decision("recognized", name=f"person {i}"))
        assert outbox.pending() == 5 and outbox.dropped == 3
    assert caplog.text.count("the oldest are dropped") == 1
    assert path.stat().st_mode & 0o777 == 0o600


def test_integration_settings_keep_secrets_out_and_urls_checked(monkeypatch):
    chosen = IntegrationsSettings()
    assert (chosen.topic_prefix, chosen.send_thumbnails, chosen.retain_last_seen) == ("likeness", False, False)
    assert not any("password" in name or "secret" in name for name in Settings().to_dict()["integrations"])
    with pytest.raises(SettingsError, match="mqtt://"):
        IntegrationsSettings(mqtt_url="http://broker:1883")
    with pytest.raises(SettingsError, match="http://"):
        IntegrationsSettings(webhook_url="ftp://door")
    assert outbox_from_settings(Settings()) is None
    monkeypatch.setenv("LIKENESS_MQTT_URL", "mqtt://127.0.0.1:1883")
    import argparse

    parser = argparse.ArgumentParser()
    add_publish_arguments(parser)
    args = parser.parse_args([])
    assert (args.mqtt, args.webhook) == ("mqtt://127.0.0.1:1883", None)
    assert parser.parse_args(["--webhook", "http://door/open"]).webhook == "http://door/open"


def test_a_thumbnail_is_kept_on_disk_only_when_a_sink_sends_it(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/likeness"
    face = Decision("unknown", thumbnail_jpeg=b"\xff\xd8 a face")
    for thumbnails in (False, True):
        path = tmp_path / f"outbox-{thumbnails}.sqlite"
        with Outbox(path, [WebhookSink(url, secret=SECRET, thumbnails=thumbnails)], retry=(5, 5)) as outbox:
            outbox.publish(face)
        stored = b"".join(file.read_bytes() for file in tmp_path.glob(f"outbox-{thumbnails}.sqlite*"))
        assert (b"/9ggYSBmYWNl" in stored) == thumbnails  # its base64


def test_numpy_values_make_plain_json():
    import numpy as np

    decision = Decision("recognized", name="Ada", distance=np.float32(0.25), live=np.bool_(True),
                        spoof_score=np.float64(0.125))
    document = json.loads(decision.to_json(with_thumbnail=True))
    assert (document["distance"], document["live"], document["spoof_score"]) == (0.25, True, 0.125)
    assert Decision.from_json(decision.to_json(True)) == Decision(**{**decision.__dict__, "distance": 0.25,
                                                                     "live": True, "spoof_score": 0.125})
