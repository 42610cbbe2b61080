"""MQTT sink (paho-mqtt 2.x): QoS 1 publications acknowledged by the broker, a retained online/offline status
with a Last Will, an event the broker can never take (too large, refused) reported as Refused, TLS for
mqtts:// (a private certificate authority from LIKENESS_MQTT_CA), user and password from the environment, never
from the settings."""
from __future__ import annotations

import contextlib
import os
import re
import ssl
import threading
from urllib.parse import urlsplit
from typing import TYPE_CHECKING
from uuid import uuid4

if TYPE_CHECKING:  # paho is imported on the first connection: every command would pay 30 ms for it
    from paho.mqtt.client import Client

from ..errors import BadInput, DeliveryError
from .decision import Decision, Refused

PORTS = {"mqtt": 1883, "mqtts": 8883}
REFUSALS = {132: "unsupported protocol version", 133: "client id refused", 134: "bad user name or password",
            135: "not authorised", 136: "server unavailable", 138: "this client is banned"}
UNSUPPORTED_PROTOCOL = 132
# PUBACK reason codes (MQTT 5) that sending the same message again cannot change: not authorised, topic name
# invalid, packet too large, payload format invalid; others (quota exceeded, unspecified error) are tried again
PERMANENT_PUBACKS = {135, 144, 149, 153}
LAST_SEEN_KINDS = ("recognized", "verified")
# OpenSSL's verify codes for a certificate whose issuer is not trusted here: self-signed, self-signed in the
# chain, issuer unknown, leaf signature not verifiable (a private certificate authority fixes these)
UNKNOWN_ISSUER = {18, 19, 20, 21}


def topic_level(text: str) -> str:
    """`text` made one topic level: separators and wildcards become _."""
    return re.sub(r"[/+#\x00]", "_", text) or "_"


def secret_from_env(name: str) -> str | None:
    """The value of the variable `name`, or the first line of the file that `name`_FILE names."""
    if value := os.environ.get(name):
        return value
    if path := os.environ.get(f"{name}_FILE"):
        try:
            with open(path, encoding="utf-8") as file:
                return file.readline().rstrip("\r\n")
        except OSError as error:
            raise BadInput(f"Cannot read {name}_FILE {path}: {error.strerror or error}.") from error
    return None


def tls_context(variable: str) -> ssl.SSLContext:
    """A client's TLS context (server certificate and host name checked) trusting the certificate authorities
    in the PEM file that the environment variable `variable` names, else the system's trust store; raises
    DeliveryError, one sentence, for a file it cannot use."""
    path = os.environ.get(variable) or None
    try:
        return ssl.create_default_context(cafile=path)
    except ssl.SSLError as error:
        raise DeliveryError(f"{variable} {path} holds no PEM certificate ({error.reason or error})") from error
    except OSError as error:
        raise DeliveryError(f"cannot read {variable} {path}: {error.strerror or error}") from error


def certificate_problem(peer: str, error: ssl.SSLCertVerificationError, variable: str) -> str:
    """One sentence on why `peer`'s certificate was turned down, for a DeliveryError."""
    why = str(error.verify_message or error.reason or error).rstrip(".")
    if error.verify_code in UNKNOWN_ISSUER:
        return (f"{peer} has a certificate this machine does not trust ({why}): set {variable} to the PEM file "
                "of the certificate authority that signed it")
    return f"{peer} has a certificate that is not accepted ({why})"


def parse_broker(url: str) -> tuple[str, str, int, str | None]:
    """(scheme, host, port, user) of mqtt://[user@]host[:port] or mqtts://...; a password in it is refused."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in PORTS or not parts.hostname or port == -1:
        raise BadInput(f"The MQTT broker {url!r} is not a URL like mqtt://127.0.0.1:1883 or mqtts://host:8883.")
    if parts.password is not None:
        raise BadInput("Put the MQTT password in LIKENESS_MQTT_PASSWORD (or a file named by "
                       "LIKENESS_MQTT_PASSWORD_FILE), not in the broker URL.")
    return parts.scheme, parts.hostname, port or PORTS[parts.scheme], parts.username


class MqttSink:
    """Publishes each decision on `<prefix>/<machine>/<kind>` with QoS 1 (MQTT 5, else 3.1.1 for a broker
    without it); deliver() returns once the broker acknowledged it (PUBACK). The connection opens in open()
    (the outbox's thread calls it at once) or on the first delivery, and paho re-opens it after a loss;
    `<prefix>/<machine>/status` is "online" while connected and "offline" (the Last Will) after, unless
    `status` is False (a one-off test must not report the kiosk's own connection as gone). A "deleted" decision
    clears the person's retained `last_seen` topic. close() is final."""

    def __init__(self, url: str, *, machine: str, prefix: str = "likeness", retain_last_seen: bool = False,
                 thumbnails: bool = False, timeout: float = 5.0, status: bool = True):
        self.scheme, self.host, self.port, user = parse_broker(url)
        self.name = f"{self.scheme}://{self.host}:{self.port}"
        self.user = os.environ.get("LIKENESS_MQTT_USER") or user
        self.password = secret_from_env("LIKENESS_MQTT_PASSWORD")
        self.base = f"{prefix.rstrip('/')}/{topic_level(machine)}"
        self.retain_last_seen, self.thumbnails, self.timeout = retain_last_seen, thumbnails, timeout
        self.status = f"{self.base}/status" if status else None
        self.mqtt5 = True  # False once a broker has refused MQTT 5: the next connection speaks 3.1.1
        self._client: Client | None = None
        self._lock = threading.Lock()  # between close() and a connection being made on the outbox's thread
        self._closed = False
        self._answered = threading.Event()  # a CONNACK came on the current connection
        self._refusal: str | None = None
        self._max_packet: int | None = None  # the broker's Maximum Packet Size (MQTT 5), if it has one
        self._refused: dict[int, tuple[int, str]] = {}  # message id -> (reason code, why) of a refusing PUBACK

    def open(self) -> None:
        """Connect now (so that an idle kiosk says "online"); raises DeliveryError."""
        self._connected()

    def deliver(self, decision: Decision) -> None:
        client = self._connected()
        self._publish(client, f"{self.base}/{decision.kind}", decision.to_json(self.thumbnails), retain=False)
        if not decision.name:
            return
        last_seen = f"{self.base}/last_seen/{topic_level(decision.name)}"
        if decision.kind == "deleted":  # an empty retained message removes the retained one (even if the
            self._publish(client, last_seen, b"", retain=True)  # setting was turned off since)
        elif self.retain_last_seen and decision.kind in LAST_SEEN_KINDS:
            self._publish(client, last_seen, decision.to_json(False), retain=True)

    def close(self) -> None:
        """Say "offline" and disconnect (a clean disconnect does not fire the Last Will)."""
        with self._lock:
            self._closed = True
            client = self._client
        if client is None:
            return
        if self.status and self._answered.is_set() and not self._refusal:
            with contextlib.suppress(RuntimeError, ValueError):
                client.publish(self.status, "offline", qos=1, retain=True).wait_for_publish(1.0)
        self._drop()

    def _connected(self) -> Client:
        if self._client is None:
            client = self._connect()
            with self._lock:
                if self._closed:  # close() ran while this connected
                    client.disconnect()
                    client.loop_stop()
                    raise DeliveryError(f"the connection to the MQTT broker at {self.name} is closed")
                self._client = client
        if not self._answered.wait(self.timeout):
            self._drop()
            raise DeliveryError(f"no answer from the MQTT broker at {self.name} within {self.timeout:g} s")
        if self._refusal:
            refusal = self._refusal
            self._drop()
            raise DeliveryError(f"broker refused: {refusal}")
        client = self._client
        if client is None:  # close() dropped it meanwhile
            raise DeliveryError(f"the connection to the MQTT broker at {self.name} is closed")
        return client

    def _connect(self) -> Client:
        from paho.mqtt.client import CallbackAPIVersion, Client, MQTTv5, MQTTv311

        client = Client(CallbackAPIVersion.VERSION2, client_id=f"likeness-{uuid4().hex[:12]}",
                        protocol=MQTTv5 if self.mqtt5 else MQTTv311)
        if self.status:
            client.will_set(self.status, "offline", qos=1, retain=True)
        if self.user:
            client.username_pw_set(self.user, self.password)
        if self.scheme == "mqtts":
            client.tls_set_context(tls_context("LIKENESS_MQTT_CA"))
        client.connect_timeout = self.timeout
        client.reconnect_delay_set(0.5, 30)  # type: ignore[arg-type]  # paho annotates int; it sleeps any float
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_publish = self._on_publish
        self._answered.clear()
        try:
            client.connect(self.host, self.port, keepalive=30)
        except ssl.SSLCertVerificationError as error:
            raise DeliveryError(certificate_problem(f"the MQTT broker at {self.name}", error,
                                                    "LIKENESS_MQTT_CA")) from error
        except (OSError, ValueError) as error:
            raise DeliveryError(f"cannot reach the MQTT broker at {self.name}: "
                                f"{getattr(error, 'strerror', None) or error}") from error
        client.loop_start()
        return client

    def _drop(self) -> None:
        """Forget the client (and whatever paho still queues); the next delivery connects afresh."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._answered.clear()
        self._refused.clear()  # a new client numbers its messages from 1 again

    def _publish(self, client: Client, topic: str, payload: bytes, retain: bool) -> None:
        # at most 10 bytes of fixed header, lengths, message id and (empty) properties around topic and payload
        if self._max_packet and len(topic.encode("utf-8")) + len(payload) + 10 > self._max_packet:
            raise Refused(f"the MQTT broker at {self.name} takes messages of at most {self._max_packet} bytes; "
                          f"this one has {len(payload)}")
        try:
            info = client.publish(topic, payload, qos=1, retain=retain)
        except ValueError as error:  # too large for MQTT, or a topic it cannot have
            raise Refused(f"the event cannot be sent over MQTT ({error})") from error
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as error:
            self._drop()
            raise DeliveryError(f"the MQTT broker at {self.name} did not take the event ({error})") from error
        if not info.is_published():
            self._drop()
            raise DeliveryError(f"no acknowledgement from the MQTT broker at {self.name} within {self.timeout:g} s")
        if (refusal := self._refused.pop(info.mid, None)) is not None:
            error_class = Refused if refusal[0] in PERMANENT_PUBACKS else DeliveryError
            raise error_class(f"the MQTT broker at {self.name} refused the event: {refusal[1]}")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._refusal = None
        if reason_code.is_failure:
            self._refusal = REFUSALS.get(reason_code.value, str(reason_code).lower())
            if reason_code.value == UNSUPPORTED_PROTOCOL:
                self.mqtt5 = False
        else:
            self._max_packet = getattr(properties, "MaximumPacketSize", None)
            if self.status:
                client.publish(self.status, "online", qos=1, retain=True)
        self._answered.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._answered.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused[mid] = (reason_code.value, str(reason_code).lower())
