"""Decisions out: a real mosquitto on loopback and a real HTTP receiver; nothing of the network is mocked."""
import hashlib
import hmac
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.config import IntegrationsSettings, Settings
from engine.errors import BadInput, SettingsError
from engine.events import (
    Decision,
    DeliveryError,
    MqttSink,
    Outbox,
    WebhookSink,
    add_publish_arguments,
    forget_all_in,
    forget_in,
    outbox_from_settings,
    send_test_event,
    sinks_from_settings,
)
from mqtt_broker import Broker, Listener, Receiver, free_port, make_certificates
from conftest import wait_until

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


def test_the_last_will_says_offline_when_the_kiosk_dies(broker):
    listener = Listener(broker.port, topic="likeness/dying/status")
    script = ("import os; from engine.events import Decision, MqttSink; "
              f"MqttSink({broker.url!r}, machine='dying').deliver(Decision('test')); os._exit(0)")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=20, cwd=Path(__file__).parent.parent)
    assert wait_until(lambda: len(listener.messages) >= 2)
    assert [payload for _, payload, _ in listener.messages] == [b"online", b"offline"]
    listener.close()


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


def test_a_hanging_receiver_delays_neither_publish_nor_the_broker(broker, tmp_path):
    """Behaviour only: every publish returns and MQTT delivers all while the webhook's first request is still
    held unanswered. How long publish takes meanwhile: bench/decisions_out.py ("webhook hangs")."""
    receiver = Receiver(answers=["hold"])
    listener = Listener(broker.port)
    sinks = [WebhookSink(receiver.url, secret=SECRET, timeout=30), MqttSink(broker.url, machine="door")]
    with Outbox(tmp_path / "outbox.sqlite", sinks, retry=FAST) as outbox:
        for i in range(20):
            outbox.publish(Decision("recognized", name=f"person {i}"))
        assert wait_until(lambda: len(listener.events()) == 20, timeout=10)  # MQTT went on meanwhile
        assert receiver.held == 1 and receiver.requests == []  # the webhook's first is still unanswered
        assert wait_until(lambda: outbox.pending() == 20)  # MQTT's acknowledged; all 20 wait for the webhook
        receiver.release.set()
        assert outbox.flush(10)
    assert [body["name"] for body in receiver.bodies()] == [f"person {i}" for i in range(1, 20)]
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


def file_bytes(path: Path) -> bytes:
    """The outbox file with its -wal and -shm, as they lie on disk."""
    return b"".join(file.read_bytes() for file in path.parent.glob(path.name + "*"))


def test_reopening_without_a_sink_deletes_its_undelivered_events(broker, tmp_path, caplog):
    path, dead = tmp_path / "outbox.sqlite", f"http://127.0.0.1:{free_port()}/gone-hook"
    face = Decision("unknown", thumbnail_jpeg=b"\xff\xd8 a face", machine="door")
    sent = [Decision("recognized", name="Ada", machine="door"), face]
    broker.stop()  # both sinks keep everything pending
    webhook = WebhookSink(dead, secret=SECRET, thumbnails=True, timeout=0.3)
    with Outbox(path, [MqttSink(broker.url, machine="door"), webhook], retry=FAST) as outbox:
        for decision in sent:
            outbox.publish(decision)
        assert not outbox.flush(0.3) and outbox.pending() == 4
    assert b"gone-hook" in file_bytes(path) and b"/9ggYSBmYWNl" in file_bytes(path)
    broker.start()
    listener = Listener(broker.port)
    with caplog.at_level(logging.WARNING), Outbox(path, [MqttSink(broker.url, machine="door")], retry=FAST) as outbox:
        assert outbox.flush(5)  # only MQTT's rows were left
    assert "2 undelivered event(s) for destinations no longer configured were deleted" in caplog.text
    assert wait_until(lambda: len(listener.events()) == 2)
    assert [e["id"] for e in listener.events()] == [d.id for d in sent]
    stored = file_bytes(path)
    assert b"gone-hook" not in stored and b"/9ggYSBmYWNl" not in stored and b'"name":"Ada"' not in stored
    listener.close()


def test_forgetting_works_on_the_file_without_any_sink(tmp_path):
    path, url = tmp_path / "outbox.sqlite", f"http://127.0.0.1:{free_port()}/likeness"
    ada = [Decision("recognized", name="Ada", thumbnail_jpeg=b"\xff\xd8 a face"), Decision("spoof", name="Ada")]
    bob = Decision("recognized", name="Bob")
    with Outbox(path, [WebhookSink(url, secret=SECRET, thumbnails=True)], retry=(5, 5)) as outbox:
        for decision in (ada[0], bob, ada[1]):
            outbox.publish(decision)
    assert b"/9ggYSBmYWNl" in file_bytes(path)
    assert forget_in(tmp_path / "nothing.sqlite", "Ada") == 0 and not (tmp_path / "nothing.sqlite").exists()
    assert forget_in(path, "Ada") == 2 and Outbox.forget_in(path, "Ada") == 0
    stored = file_bytes(path)
    assert b'"name":"Ada"' not in stored and b"/9ggYSBmYWNl" not in stored and b'"name":"Bob"' in stored
    assert forget_all_in(path) == 1 and b'"name":"Bob"' not in file_bytes(path)
    assert Outbox.forget_all_in(tmp_path / "nothing.sqlite") == 0
    with Outbox(path, [WebhookSink(url, secret=SECRET)], retry=(5, 5)) as outbox:
        assert outbox.pending() == 0
        outbox.publish(Decision("recognized", name="Ada"))
        outbox.publish(bob)
        assert outbox.forget("Ada") == 1 and outbox.pending() == 1
        assert outbox.forget_all() == 1 and outbox.pending() == 0
    assert b'"name":"Ada"' not in file_bytes(path) and b'"name":"Bob"' not in file_bytes(path)


def test_a_deletion_clears_the_persons_retained_last_seen(broker):
    sink = MqttSink(broker.url, machine="door", retain_last_seen=True, status=False)
    sink.deliver(Decision("recognized", name="Ada Lovelace"))
    before = Listener(broker.port, topic="likeness/door/last_seen/#")
    assert wait_until(lambda: before.messages)
    sink.deliver(Decision("deleted", name="Ada Lovelace"))
    sink.close()
    after = Listener(broker.port, topic="likeness/door/last_seen/#")
    time.sleep(0.5)  # a retained message would come right after the subscription
    assert after.messages == []
    before.close()
    after.close()


def test_an_idle_kiosk_says_online_at_once_and_offline_after_close(broker, tmp_path):
    listener = Listener(broker.port, topic="likeness/door/status")
    outbox = Outbox(tmp_path / "outbox.sqlite", [MqttSink(broker.url, machine="door")], retry=FAST)
    assert wait_until(lambda: [payload for _, payload, _ in listener.messages] == [b"online"], timeout=2)
    outbox.close()
    assert wait_until(lambda: [payload for _, payload, _ in listener.messages] == [b"online", b"offline"], timeout=2)
    listener.close()


def test_a_kiosk_started_while_the_broker_is_down_says_online_once_it_is_up(tmp_path):
    folder = tmp_path / "late-broker"
    folder.mkdir()
    late = Broker(folder)
    outbox = Outbox(tmp_path / "outbox.sqlite", [MqttSink(late.url, machine="door")], retry=FAST)
    time.sleep(0.3)  # a few failed tries
    late.start()
    try:
        listener = Listener(late.port, topic="likeness/door/status")
        assert wait_until(lambda: (b"online" in [payload for _, payload, _ in listener.messages]), timeout=3)
        outbox.close()
        listener.close()
    finally:
        late.stop()


def test_an_event_refused_for_good_is_dropped_and_the_next_ones_go_on(tmp_path, caplog):
    receiver = Receiver(answers=[422, 429, 204, 503, 204])
    sent = [Decision("recognized", name=f"person {i}") for i in range(3)]
    with caplog.at_level(logging.WARNING), \
            Outbox(tmp_path / "outbox.sqlite", [WebhookSink(receiver.url, secret=SECRET)], retry=FAST) as outbox:
        for decision in sent:
            outbox.publish(decision)
        assert outbox.flush(5)
    first, second, third = (d.id for d in sent)
    assert [body["id"] for body in receiver.bodies()] == [first, second, second, third, third]  # 429, 503 retried
    refusals = [r.getMessage() for r in caplog.records if "refused it for good" in r.getMessage()]
    assert len(refusals) == 1 and first in refusals[0] and "422" in refusals[0]
    receiver.close()


def test_an_event_too_large_for_the_broker_is_dropped_and_the_next_ones_go_on(tmp_path, caplog):
    folder = tmp_path / "small-broker"
    folder.mkdir()
    small = Broker(folder)
    config = folder / "mosquitto.conf"
    config.write_text("max_packet_size 4000\n" + config.read_text())
    small.start()
    try:
        listener = Listener(small.port)
        big = Decision("unknown", thumbnail_jpeg=bytes(8000), machine="door")
        sent = [big, Decision("recognized", name="Ada", machine="door", thumbnail_jpeg=b"\xff\xd8")]
        sink = MqttSink(small.url, machine="door", thumbnails=True)
        with caplog.at_level(logging.WARNING), Outbox(tmp_path / "outbox.sqlite", [sink], retry=FAST) as outbox:
            for decision in sent:
                outbox.publish(decision)
            assert outbox.flush(5)
        assert wait_until(lambda: len(listener.events()) == 1)
        assert listener.events()[0]["id"] == sent[1].id
        assert big.id in caplog.text and "at most 4000 bytes" in caplog.text
        listener.close()
    finally:
        small.stop()


def test_a_broker_without_mqtt_5_is_spoken_to_in_mqtt_3(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    levels = []

    def answer_as_mqtt_3_1_1():  # a 3.1.1 broker turns down any other protocol level
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed at the end of the test
                return
            connect = connection.recv(1000)
            levels.append(connect[8])  # the protocol level, after the fixed header and "MQTT"
            connection.sendall(b"\x20\x02\x00\x01" if connect[8] != 4 else b"\x20\x02\x00\x00")
            threading.Timer(1.0, connection.close).start()

    threading.Thread(target=answer_as_mqtt_3_1_1, daemon=True).start()
    sink = MqttSink(f"mqtt://127.0.0.1:{server.getsockname()[1]}", machine="door", status=False, timeout=2)
    with pytest.raises(DeliveryError, match="unsupported protocol version"):
        sink.open()
    sink.open()  # the next try speaks 3.1.1, which this broker accepts
    assert levels[0] == 5 and levels[-1] == 4
    sink.close()
    server.close()


# TLS: a throwaway certificate authority, a broker's TLS listener and an HTTPS receiver, all on loopback

@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A self-signed certificate authority and a server certificate for 127.0.0.1 and localhost, made once."""
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture
def tls_broker(tmp_path, certificates):
    """mosquitto with a TLS listener (tls_port, tls_url) besides its plain ones, stopped at the end."""
    folder = tmp_path / "tls-broker"
    folder.mkdir()
    running = Broker(folder, tls=certificates)
    running.start()
    yield running
    running.stop()


def is_one_sentence(text: str) -> bool:
    """One line, no sentence ending inside, none of OpenSSL's own wording such as "(_ssl.c:1006)"."""
    return "\n" not in text and not re.search(r"[.;!?]\s", text) and "_ssl.c" not in text


def test_mqtts_with_the_private_certificate_authority_delivers(tls_broker, certificates, tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_MQTT_CA", str(certificates.ca))
    listener = Listener(tls_broker.tls_port, ca=certificates.ca)  # a subscriber over TLS too
    sent = decisions()[0]
    with Outbox(tmp_path / "outbox.sqlite", [MqttSink(tls_broker.tls_url, machine="door")], retry=FAST) as outbox:
        outbox.publish(sent)
        assert outbox.flush(5) and outbox.pending() == 0
    assert wait_until(lambda: listener.events())
    assert listener.events() == [expected(sent)]
    assert [topic for topic, _, _ in listener.messages if "/status" not in topic] == ["likeness/door/recognized"]
    settings = Settings(integrations=IntegrationsSettings(mqtt_url=tls_broker.tls_url))
    assert send_test_event(settings).startswith("delivered in ")
    listener.close()


def test_mqtts_without_the_certificate_authority_says_so_and_keeps_the_event(tls_broker, certificates, tmp_path,
                                                                             monkeypatch, caplog):
    monkeypatch.delenv("LIKENESS_MQTT_CA", raising=False)
    answer = send_test_event(Settings(integrations=IntegrationsSettings(mqtt_url=tls_broker.tls_url)))
    assert answer.startswith(f"the MQTT broker at {tls_broker.tls_url} has a certificate this machine does not "
                             "trust (")
    assert answer.endswith("set LIKENESS_MQTT_CA to the PEM file of the certificate authority that signed it")
    assert is_one_sentence(answer)
    path, sent = tmp_path / "outbox.sqlite", Decision("recognized", name="Ada", machine="door")
    with caplog.at_level(logging.WARNING), \
            Outbox(path, [MqttSink(tls_broker.tls_url, machine="door", timeout=1)], retry=FAST) as outbox:
        outbox.publish(sent)
        assert not outbox.flush(0.5) and outbox.pending() == 1
    assert "does not trust" in caplog.text  # the log says why once
    monkeypatch.setenv("LIKENESS_MQTT_CA", str(certificates.ca))  # the operator sets it and starts again
    listener = Listener(tls_broker.tls_port, ca=certificates.ca)
    with Outbox(path, [MqttSink(tls_broker.tls_url, machine="door")], retry=FAST) as outbox:
        assert outbox.flush(5)
    assert wait_until(lambda: listener.events())
    assert [event["id"] for event in listener.events()] == [sent.id]  # kept, not lost
    listener.close()


def test_an_https_webhook_signed_by_the_trusted_authority_gets_the_signed_event(certificates, tmp_path, monkeypatch):
    monkeypatch.setenv("LIKENESS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("LIKENESS_WEBHOOK_CA", str(certificates.ca))
    receiver = Receiver(tls=certificates)
    assert receiver.url.startswith("https://127.0.0.1:")
    settings = Settings(integrations=IntegrationsSettings(machine_name="door", webhook_url=receiver.url))
    assert send_test_event(settings).startswith("delivered in ")
    sent = decisions()[0]
    outbox = outbox_from_settings(settings, path=tmp_path / "outbox.sqlite")
    outbox.publish(sent)
    assert outbox.flush(5)
    outbox.close()
    assert len(receiver.requests) == 2 and receiver.failures == []
    headers, body = receiver.requests[1]
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Likeness-Signature"], f"sha256={mac}")
    assert headers["X-Likeness-Event-Id"] == sent.id and json.loads(body) == expected(sent)
    receiver.close()


def test_an_https_webhook_with_an_untrusted_certificate_says_so_and_keeps_the_event(certificates, tmp_path,
                                                                                    monkeypatch, caplog):
    monkeypatch.delenv("LIKENESS_WEBHOOK_CA", raising=False)  # the system's trust store: no throwaway CA in it
    receiver = Receiver(tls=certificates)
    answer = send_test_event(Settings(integrations=IntegrationsSettings(webhook_url=receiver.url)))
    port = receiver.server_address[1]
    assert answer.startswith(f"the webhook https://127.0.0.1:{port}/likeness has a certificate this machine does "
                             "not trust (")
    assert answer.endswith("set LIKENESS_WEBHOOK_CA to the PEM file of the certificate authority that signed it")
    assert is_one_sentence(answer)
    path, sent = tmp_path / "outbox.sqlite", Decision("verified", name="Ada")
    with caplog.at_level(logging.WARNING), \
            Outbox(path, [WebhookSink(receiver.url, secret=SECRET, timeout=1)], retry=FAST) as outbox:
        outbox.publish(sent)
        assert not outbox.flush(0.5) and outbox.pending() == 1
    assert "does not trust" in caplog.text
    assert receiver.requests == [] and wait_until(lambda: receiver.failures)  # the handshakes failed, nothing sent
    monkeypatch.setenv("LIKENESS_WEBHOOK_CA", str(certificates.ca))  # the operator sets it and starts again
    with Outbox(path, [WebhookSink(receiver.url, secret=SECRET)], retry=FAST) as outbox:
        assert outbox.flush(5)
    assert [body["id"] for body in receiver.bodies()] == [sent.id]  # kept, not lost
    receiver.close()


def test_a_certificate_authority_file_that_cannot_be_used_is_named(tls_broker, certificates, tmp_path, monkeypatch):
    missing, not_pem = tmp_path / "missing.pem", tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    receiver = Receiver(tls=certificates)
    for variable, setting, url in (("LIKENESS_MQTT_CA", "mqtt_url", tls_broker.tls_url),
                                   ("LIKENESS_WEBHOOK_CA", "webhook_url", receiver.url)):
        settings = Settings(integrations=IntegrationsSettings(**{setting: url}))
        monkeypatch.setenv(variable, str(missing))
        assert send_test_event(settings) == f"cannot read {variable} {missing}: No such file or directory"
        monkeypatch.setenv(variable, str(not_pem))
        answer = send_test_event(settings)
        assert answer.startswith(f"{variable} {not_pem} holds no PEM certificate") and is_one_sentence(answer)
    assert receiver.requests == []
    receiver.close()


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/hook",
                                 "https://[::ffff:169.254.169.254]/x", "http://[fd00:ec2::254]/latest"])
def test_a_webhook_on_a_link_local_or_metadata_address_is_refused_unless_allowed(url):
    with pytest.raises(BadInput, match="link-local address.*integrations.webhook_link_local"):
        WebhookSink(url, secret=SECRET)
    WebhookSink(url, secret=SECRET, link_local=True).close()
    settings = Settings(integrations=IntegrationsSettings(webhook_url=url))
    with pytest.raises(BadInput, match="link-local"):
        sinks_from_settings(settings)



def test_a_withdrawal_behind_a_reader_is_finished_when_the_outbox_closes(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setattr("engine.private_sqlite.CHECKPOINT_TRIES", 2)
    path, url = tmp_path / "outbox.sqlite", f"http://127.0.0.1:{free_port()}/likeness"
    outbox = Outbox(path, [WebhookSink(url, secret=SECRET)], retry=(5, 5))
    outbox.publish(Decision("recognized", name="Zelda"))
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM events").fetchall()  # another program reads the old version meanwhile
    assert forget_in(path, "Zelda") == 1
    assert b'"name":"Zelda"' in file_bytes(path)  # the old page waits in the write-ahead log for the reader
    reader.close()
    outbox.close()  # the reader went: closing overwrites it
    assert b'"name":"Zelda"' not in file_bytes(path)
