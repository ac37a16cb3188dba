"""Signatures between the web server and its workers, keyed by the shared secret (``settings.signing_key``).

Two kinds, both HMAC-SHA256 and both short-lived:

- **tokens** (:func:`make_token` / :func:`read_token`): a small JSON payload with
  a purpose and an expiry, signed, URL-safe. The server hands a worker a
  download URL holding one, so a worker can fetch exactly the model and protocol
  archives of the run it claimed, for a few minutes, and nothing else;
  The token is a bearer secret: :func:`redact` takes it (and any ``claim``,
  ``token`` or ``signature`` query parameter) out of paths before they are logged;
- **request signatures** (:func:`sign_request` / :func:`verify_request`): a
  worker signs each runner callback (method, path, timestamp, SHA-256 of the
  body). A callback is accepted only within :data:`MAX_SKEW` seconds of its
  timestamp, so a captured request cannot be replayed later; replays inside
  the window are harmless because callbacks are idempotent.

This module imports nothing of the platform so that workers use it as is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

SIGNATURE_HEADER = "X-Weblab-Signature"
MAX_SKEW = 300.0
REDACTED = "REDACTED"
# Where secrets travel in URLs: the archive token is a path segment; claims (and any token or signature)
# are query parameters.
_SECRET_SEGMENT = re.compile(r"(/runner/archives/)[^/?#]+")
_SECRET_PARAMETER = re.compile(r"(?i)(^|[?&;])(claim|token|signature|sig|key|secret)=[^&;#]*")


def redact(url: str) -> str:
    """A path (or URL, with its query) safe to log: archive tokens and secret query values become REDACTED."""
    url = _SECRET_SEGMENT.sub(rf"\g<1>{REDACTED}", url)
    return _SECRET_PARAMETER.sub(rf"\g<1>\g<2>={REDACTED}", url) if "=" in url else url


class BadSignature(Exception):
    """A token or request signature is malformed, forged, expired or for another purpose."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


def make_token(key: str, purpose: str, payload: dict[str, Any], ttl: float, *, now: float | None = None) -> str:
    """A URL-safe token carrying ``payload`` for ``purpose``, valid for ``ttl`` seconds."""
    body = json.dumps({"p": purpose, "d": payload, "e": int((now or time.time()) + ttl)},
                      separators=(",", ":"), sort_keys=True).encode()
    return _b64(body) + "." + _b64(_mac(key, purpose.encode() + b"\0" + body))


def read_token(key: str, purpose: str, token: str, *, now: float | None = None) -> dict[str, Any]:
    """The payload of a token made with the same key and purpose; :class:`BadSignature` otherwise."""
    try:
        body_text, mac_text = token.split(".", 1)
        body = _unb64(body_text)
        mac = _unb64(mac_text)
    except ValueError as exc:
        raise BadSignature("the token is malformed") from exc
    if not hmac.compare_digest(mac, _mac(key, purpose.encode() + b"\0" + body)):
        raise BadSignature("the token's signature does not match (wrong key or purpose, or altered)")
    data = json.loads(body)
    if data.get("p") != purpose:
        raise BadSignature("the token is for another purpose")
    if (now or time.time()) > data["e"]:
        raise BadSignature("the token has expired")
    payload: dict[str, Any] = data["d"]
    return payload


def _request_message(method: str, path: str, timestamp: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, hashlib.sha256(body).hexdigest()]).encode()


def sign_request(key: str, method: str, path: str, body: bytes, *, now: float | None = None) -> str:
    """The value of the :data:`SIGNATURE_HEADER` for one request: ``t=<unix time>,v1=<hex HMAC>``."""
    timestamp = str(int(now or time.time()))
    mac = hmac.new(key.encode(), _request_message(method, path, timestamp, body), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_request(key: str, header: str | None, method: str, path: str, body: bytes, *,
                   now: float | None = None) -> None:
    """Raise :class:`BadSignature` unless ``header`` signs exactly this request, recently."""
    if not header:
        raise BadSignature(f"the request has no {SIGNATURE_HEADER} header")
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = fields["t"], fields["v1"]
        when = int(timestamp)
    except (ValueError, KeyError) as exc:
        raise BadSignature(f"the {SIGNATURE_HEADER} header is malformed") from exc
    if abs((now or time.time()) - when) > MAX_SKEW:
        raise BadSignature(f"the request signature is older than {MAX_SKEW:.0f} s (or the clocks disagree)")
    expected = hmac.new(key.encode(), _request_message(method, path, timestamp, body), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise BadSignature("the request signature does not match (wrong key, or the request was altered)")
