"""Webhook sink: one signed HTTP POST per decision (the outbox retries with back-off)."""
from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import logging
import ssl
from urllib.parse import urlsplit

from ..errors import BadInput, DeliveryError
from ..logs import LOGGER
from .decision import Decision, Refused
from .mqtt import certificate_problem, tls_context

log = logging.getLogger(f"{LOGGER}.events")
RETRIED_4XX = (401, 403, 404, 408, 429)  # refusals that the receiver's operator or time can lift


def signature(secret: bytes, body: bytes) -> str:
    """The X-Likeness-Signature header's value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


METADATA_ADDRESSES = ("fd00:ec2::254",)  # a cloud's metadata service outside the link-local ranges


def is_link_local(host: str) -> bool:
    """Whether `host` is an address of the local link (169.254.0.0/16, fe80::/10, where clouds serve their
    metadata and credentials) or a metadata service's; a name is not (its address is checked when connecting)."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_link_local or bool(mapped and mapped.is_link_local) or str(address) in METADATA_ADDRESSES


def _valid_port(parts) -> bool:
    try:
        return parts.port is None or parts.port > 0
    except ValueError:
        return False


class WebhookSink:
    """POSTs each decision's JSON to `url`; any 2xx answer within `timeout` s is a delivery. Redirects are
    not followed (a POST must not silently become a GET elsewhere). A 4xx answer refuses the event for good,
    except those that a receiver or its operator can fix: 401 and 403 (a secret or login to set right), 404 (a
    path), 408 (a timeout) and 429 (too many requests); anything else is tried again. An https:// receiver's
    certificate must be valid for its host and signed by a certificate authority of the PEM file that
    LIKENESS_WEBHOOK_CA names (a private one, e.g. a door controller's own), else of the system's trust store;
    an untrusted certificate or an unreadable file is a DeliveryError (the outbox keeps the event). The file is
    read at the first https delivery, and again at the next one while it could not be. A receiver on a
    link-local address (169.254.169.254 is a cloud's metadata service) is refused, as a URL or where a name
    leads when connecting, unless `link_local` allows it."""

    def __init__(self, url: str, *, secret: str | None = None, timeout: float = 5.0, thumbnails: bool = False,
                 link_local: bool = False):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or not _valid_port(parts):
            raise BadInput(f"The webhook {url!r} is not a URL like https://door.local/likeness.")
        if not link_local and is_link_local(parts.hostname):
            raise BadInput(f"The webhook {url!r} is on a link-local address, where clouds serve their metadata and "
                           "credentials; set integrations.webhook_link_local to send events there.")
        self.link_local = link_local
        self.url, self.parts = url, parts
        self.name = f"{parts.scheme}://{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}" \
                    f"{parts.path or '/'}"
        self.secret = secret.encode("utf-8") if secret else None
        self.timeout, self.thumbnails = timeout, thumbnails
        self._tls: ssl.SSLContext | None = None
        if self.secret is None:
            log.warning("LIKENESS_WEBHOOK_SECRET is not set: events to %s are not signed.", self.name)

    def deliver(self, decision: Decision) -> None:
        body = decision.to_json(self.thumbnails)
        headers = {"Content-Type": "application/json", "User-Agent": "Likeness", "X-Likeness-Event-Id": decision.id}
        if self.secret:
            headers["X-Likeness-Signature"] = signature(self.secret, body)
        assert self.parts.hostname is not None  # __init__ refused a URL without one
        connection: http.client.HTTPConnection
        if self.parts.scheme == "https":
            if self._tls is None:
                self._tls = tls_context("LIKENESS_WEBHOOK_CA")
            connection = http.client.HTTPSConnection(self.parts.hostname, self.parts.port, timeout=self.timeout,
                                                     context=self._tls)
        else:
            connection = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=self.timeout)
        target = self.parts.path or "/"
        try:
            connection.connect()
            peer = connection.sock.getpeername()[0]
            if not self.link_local and is_link_local(peer):
                raise DeliveryError(f"the webhook {self.name} leads to the link-local address {peer}; nothing is sent "
                                    "there unless integrations.webhook_link_local is on")
            connection.request("POST", f"{target}?{self.parts.query}" if self.parts.query else target, body, headers)
            answer = connection.getresponse()
            answer.read(65536)
        except TimeoutError as error:
            raise DeliveryError(f"the webhook {self.name} did not answer within {self.timeout:g} s") from error
        except ssl.SSLCertVerificationError as error:
            raise DeliveryError(certificate_problem(f"the webhook {self.name}", error, "LIKENESS_WEBHOOK_CA")) from error
        except (OSError, http.client.HTTPException) as error:
            why = getattr(error, "strerror", None) or error
            raise DeliveryError(f"cannot reach the webhook {self.name}: {why}") from error
        finally:
            connection.close()
        if 400 <= answer.status < 500 and answer.status not in RETRIED_4XX:
            raise Refused(f"the webhook {self.name} answered {answer.status} {answer.reason}")
        if not 200 <= answer.status < 300:
            raise DeliveryError(f"the webhook {self.name} answered {answer.status} {answer.reason}")

    def close(self) -> None:
        pass
