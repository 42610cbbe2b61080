"""A real mosquitto on loopback ports, an MQTT subscriber and a real HTTP webhook receiver, for the tests of
decisions out (tests/test_events.py, tests/test_decisions_out.py); each can speak TLS with a throwaway
certificate authority (make_certificates)."""
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from paho.mqtt.client import CallbackAPIVersion, Client

from conftest import wait_until



def tool(name: str, package: str) -> str:
    """The path of a command the tests need; a missing one fails the test that needs it, saying what to install
    (.ci/run installs them): a skipped test would prove nothing."""
    found = shutil.which(name) or next((f"{folder}/{name}" for folder in ("/usr/sbin", "/usr/bin")
                                        if os.access(f"{folder}/{name}", os.X_OK)), None)
    if found is None:
        raise RuntimeError(f"the {name} command is not installed: apt-get install {package}")
    return found


@dataclass(frozen=True)
class Certificates:
    """PEM files: a self-signed certificate authority and a server certificate it signed (with its key)."""
    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throwaway certificate authority and a server certificate for 127.0.0.1 and localhost, made by the
    openssl command (P-256 keys: a few milliseconds), valid for two days."""
    def openssl(*args):
        subprocess.run([tool("openssl", "openssl"), *args], check=True, capture_output=True, timeout=30)

    ca, ca_key, request = folder / "ca.pem", folder / "ca.key", folder / "server.csr"
    cert, key, extensions = folder / "server.pem", folder / "server.key", folder / "server.ext"
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *new_key, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
            "-subj", "/CN=Likeness test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", *new_key, "-keyout", str(key), "-out", str(request), "-subj", "/CN=localhost")
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                          "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                          "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-set_serial",
            str(int.from_bytes(os.urandom(8), "big")), "-days", "2", "-extfile", str(extensions), "-out", str(cert))
    return Certificates(ca, cert, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on two loopback ports: `port` anonymous, `secure_port` for user kiosk / password s3cret; with
    `tls` certificates a third, `tls_port`, anonymous over TLS (tls_url). Its state (sessions, queued and
    retained messages) survives stop() and start()."""

    def __init__(self, folder: Path, tls: Certificates | None = None):
        self.folder, self.port, self.secure_port = folder, free_port(), free_port()
        self.tls_port = free_port() if tls else None
        passwords = folder / "passwords"
        subprocess.run([tool("mosquitto_passwd", "mosquitto"), "-c", "-b", str(passwords),
                        "kiosk", "s3cret"], check=True, capture_output=True)
        (folder / "mosquitto.conf").write_text(
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\nper_listener_settings true\n"
            f"persistence true\npersistence_location {folder}/\nlog_dest file {folder}/mosquitto.log\n"
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"listener {self.secure_port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
            + (f"listener {self.tls_port} 127.0.0.1\nallow_anonymous true\ncertfile {tls.cert}\nkeyfile {tls.key}\n"
               if tls else ""))
        self.process = None

    def start(self):
        self.process = subprocess.Popen([tool("mosquitto", "mosquitto"), "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ports = [port for port in (self.port, self.secure_port, self.tls_port) if port]
        assert wait_until(lambda: all(self._accepts(port) for port in ports)), self._log()

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

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"


class Listener:
    """A subscriber to `topic`; with a client id its session (and what is queued for it) outlives a broker restart;
    with `ca` (a PEM file) it connects over TLS, trusting that certificate authority."""

    def __init__(self, port: int, topic="likeness/#", client_id="", ca: Path | None = None):
        self.messages, self.topic, self.subscribed = [], topic, threading.Event()
        self.arrivals: list[float] = []  # time.time() of each message, in the order of `messages`
        self.client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not client_id)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._received
        self.client.reconnect_delay_set(0.05, 0.2)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
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
    """A webhook receiver on loopback: records each POST; `answers` are statuses, "hang" (sleep 2 s) or "hold"
    (wait until `release` is set, at most 60 s), used one per request, then 204; `held` counts the requests
    being held. With `tls` certificates it serves HTTPS; a failed handshake (a client that does
    not trust the certificate) is kept in `failures`."""
    daemon_threads, block_on_close = True, False

    def __init__(self, port: int = 0, answers=(), tls: Certificates | None = None):
        self.requests, self.answers = [], list(answers)
        self.arrivals: list[float] = []  # time.time() of each recorded request
        self.failures: list[BaseException] = []
        self.release, self.held = threading.Event(), 0
        super().__init__(("127.0.0.1", port), Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert, tls.key)
            # the handshake happens in the request's thread, on its first read, not in the accepting one
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}/likeness"

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if not isinstance(error, ssl.SSLError):
            super().handle_error(request, client_address)
        self.failures.append(error)

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
        elif answer == "hold":
            self.server.held += 1
            self.server.release.wait(60)
            self.server.held -= 1
            answer = 204
        else:
            self.server.arrivals.append(time.time())
            self.server.requests.append((dict(self.headers), body))
        self.send_response(answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass
