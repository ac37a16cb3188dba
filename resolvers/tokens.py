"""Short-lived signed tokens the server hands out and reads back, keyed by the shared secret.

A token is a small JSON payload with a purpose and an expiry, HMAC-SHA256 signed and URL-safe. The server
puts one in a download URL, so that a worker can fetch exactly the model and protocol archives of the run
it claimed, for a few minutes, and nothing else. Only the server makes and reads tokens (to a worker they
are opaque parts of a URL), so they live here rather than in ``worker.contract``; a token is a bearer
secret, which ``worker.contract.redact`` takes out of paths before they are logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from worker.contract import BadSignature


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


def make_token(
    key: str, purpose: str, payload: dict[str, Any], ttl: float, *, now: float | None = None
) -> str:
    """A URL-safe token carrying ``payload`` for ``purpose``, valid for ``ttl`` seconds."""
    body = json.dumps(
        {"p": purpose, "d": payload, "e": int((now or time.time()) + ttl)},
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
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
