"""The worker's side of the runner contract: signed HTTP calls to the web server, retried with backoff.

Endpoints (``web/routes/runner.py``), all signed with the shared secret::

    POST /runner/runs/{id}/claim     {"claim", "worker"}        → {"proceed", "status", "model_url", ...}
    POST /runner/runs/{id}/progress  {"claim", "done", "total"} → {"stop", "status"}
    POST /runner/runs/{id}/release   {"claim", "reason"}         → {"status"}   (worker shutting down)
    POST /runner/runs/{id}/result?claim=…&status=…&engine=…&missing=…   body: the result archive
                                                                 → {"status", "changed"}
    GET  <model_url> / <protocol_url>  (short-lived signed token in the URL) → a COMBINE archive

Every call is safe to repeat (the server makes them idempotent), so when the
server is unreachable or answers 5xx the call is retried with exponential
backoff and jitter; a 4xx answer is final (:class:`CallbackRejected`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from worker.contract import SIGNATURE_HEADER, redact, sign_request

log = logging.getLogger(__name__)

RETRIES = 8
BACKOFF = 0.5
MAX_BACKOFF = 30.0
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class CallbackRejected(Exception):
    """The server refused a call (4xx): retrying cannot help."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"the server refused the call ({status}): {body[:500]}")
        self.status = status


class ServerUnreachable(Exception):
    """The server could not be reached (or kept failing) after every retry."""


def _redacted(error: Exception | None) -> str:
    """An error's text without the URL secrets httpx puts in it (its messages may name the request URL)."""
    return redact(str(error))


class RunnerClient:
    """Signed calls from one worker to the web server at ``server_url``."""

    def __init__(
        self,
        server_url: str,
        key: str,
        *,
        retries: int = RETRIES,
        backoff: float = BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.key = key
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._client = httpx.AsyncClient(timeout=TIMEOUT, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RunnerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        retries: int | None = None,
        sign: bool = True,
    ) -> httpx.Response:
        parts = urlsplit(url)
        signed_path = parts.path + (f"?{parts.query}" if parts.query else "")
        shown = redact(parts.path)  # archive tokens are secrets: never in a log line or an error message
        attempts = (self.retries if retries is None else retries) + 1
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(attempts):
            headers = {"Content-Type": content_type}
            if sign:
                headers[SIGNATURE_HEADER] = sign_request(self.key, method, signed_path, body)
            try:
                response = await self._client.request(method, url, content=body or None, headers=headers)
            except httpx.TransportError as exc:
                last = exc
            else:
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise CallbackRejected(response.status_code, response.text)
                    return response
                last = ServerUnreachable(f"{method} {shown} answered {response.status_code}")
            if attempt + 1 < attempts:
                wait = min(self.max_backoff, delay) * (0.5 + random.random())
                log.warning("%s %s failed (%s); retrying in %.1f s", method, shown, _redacted(last), wait)
                await asyncio.sleep(wait)
                delay *= 2
        raise ServerUnreachable(
            f"{method} {self.server_url}{shown} failed {attempts} times: {_redacted(last)}"
        ) from last

    async def _json(
        self, path: str, payload: dict[str, Any], *, retries: int | None = None
    ) -> dict[str, Any]:
        response = await self._send(
            "POST", self.server_url + path, json.dumps(payload).encode(), retries=retries
        )
        data: dict[str, Any] = response.json()
        return data

    async def claim(self, run_id: str, claim: str, worker: str) -> dict[str, Any]:
        return await self._json(f"/runner/runs/{run_id}/claim", {"claim": claim, "worker": worker})

    async def progress(
        self, run_id: str, claim: str, done: int, total: int, *, retries: int = 2
    ) -> dict[str, Any]:
        return await self._json(
            f"/runner/runs/{run_id}/progress", {"claim": claim, "done": done, "total": total}, retries=retries
        )

    async def release(self, run_id: str, claim: str, reason: str, *, retries: int = 1) -> dict[str, Any]:
        return await self._json(
            f"/runner/runs/{run_id}/release", {"claim": claim, "reason": reason}, retries=retries
        )

    async def result(
        self,
        run_id: str,
        claim: str,
        status: str,
        archive: bytes,
        *,
        engine_version: str = "",
        missing: list[str] | None = None,
    ) -> dict[str, Any]:
        query = urlencode(
            {"claim": claim, "status": status, "engine": engine_version, "missing": " ".join(missing or [])}
        )
        response = await self._send(
            "POST",
            f"{self.server_url}/runner/runs/{run_id}/result?{query}",
            archive,
            content_type="application/zip",
        )
        data: dict[str, Any] = response.json()
        return data

    async def download(self, url: str) -> bytes:
        """An archive by a signed URL the server handed out (the token is in the URL itself)."""
        if url.startswith("/"):
            url = self.server_url + url
        return (await self._send("GET", url, sign=False)).content
