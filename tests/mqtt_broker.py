"""A real mosquitto on loopback ports, an MQTT subscriber and a real HTTP webhook receiver, for the tests of
decisions out (tests/test_events.py, tests/test_decisions_out.py)."""
import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from paho.mqtt.client import CallbackAPIVersion, Client

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None)
needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed (apt-get install mosquitto)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class Broker:
    """mosquitto on two loopback ports: `port` anonymous, `secure_port` for user kiosk / password s3cret.
    Its state (sessions, queued and retained messages) survives stop() and start()."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.secure_port = folder, free_port(), free_port()
        passwords = folder / "passwords"
        subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-c", "-b", str(passwords),
                        "kiosk", "s3cret"], check=True, capture_output=True)
        (folder / "mosquitto.conf").write_text(
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\nper_listener_settings true\n"
            f"persistence true\npersistence_location {folder}/\nlog_dest file {folder}/mosquitto.log\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"listener {self.secure_port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n")
        self.process = None

    def start(self):
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert wait_until(lambda: self._accepts(self.port) and self._accepts(self.secure_port)), self._log()

    def stop(self):
        self.process.terminate()
        self.process.wait(5)

    def _accepts(self, port) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    def _log(self) -> str:
        log = self.folder / "mosquitto.log"
        return log.read_text() if log.exists() else self.process.stderr.read().decode()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


class Listener:
    """A subscriber to `topic`; with a client id its session (and what is queued for it) outlives a broker restart."""

    def __init__(self, port: int, topic="likeness/#", client_id=""):
        self.messages, self.topic, self.subscribed = [], topic, threading.Event()
        self.arrivals: list[float] = []  # time.time() of each message, in the order of `messages`
        self.client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not client_id)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._received
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(5)

    def _received(self, client, userdata, message) -> None:
        self.arrivals.append(time.time())
        self.messages.append((message.topic, message.payload, message.retain))

    def events(self, kind_topic_part="") -> list[dict]:
        return [json.loads(payload) for topic, payload, _ in list(self.messages)
                if "/status" not in topic and "/last_seen/" not in topic and kind_topic_part in topic]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class Receiver(ThreadingHTTPServer):
    """A webhook receiver on loopback: records each POST; `answers` are statuses or "hang" (sleep 2 s), used
    one per request, then 204."""
    daemon_threads, block_on_close = True, False

    def __init__(self, port: int = 0, answers=()):
        self.requests, self.answers = [], list(answers)
        self.arrivals: list[float] = []  # time.time() of each recorded request
        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/likeness"

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, body in list(self.requests)]

    def close(self):
        self.shutdown()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self.server.answers.pop(0) if self.server.answers else 204
        if answer == "hang":
            time.sleep(2)
            answer = 204
        else:
            self.server.arrivals.append(time.time())
            self.server.requests.append((dict(self.headers), body))
        self.send_response(answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass
