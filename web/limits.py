"""How big a request body may be, and the one JSON error shape for requests the framework refuses.

:class:`BodyLimitMiddleware` (pure ASGI) bounds every HTTP request body before any
route reads it: by ``max_body_bytes`` for ordinary requests (GraphQL, SPARQL
queries and updates, forms, JSON), and by the upload limits for what is an upload::

    multipart POST /{models,protocols,datasets}[/{id}/versions], multipart POST /graphql
                                          max_upload_bytes + max_unpacked_bytes (as the routes bound them)
    /sparql/graphs (Graph Store writes)   max_upload_bytes (as the SPARQL service bounds them)
    POST /runner/runs/{id}/result         max_unpacked_bytes (a worker's result archive)

A ``Content-Length`` over the limit is refused before anything is read; a body sent
without one (chunked) is counted as it streams in and refused as soon as it passes the
limit, so no more than the limit is ever held. Either way the answer is 413 in the
platform's JSON error shape (:meth:`resolvers.errors.WeblabError.to_json`).

:func:`http_error` renders Starlette's ``HTTPException`` (unknown route, wrong method, a
malformed form) in the same shape; a malformed multipart body says what is wrong with it
(python-multipart's reason, such as a header line over its size limit) instead of
Starlette's bare "Invalid multipart data.".
"""

from __future__ import annotations

import json
import re
from typing import Any

# the size python-multipart allows one header line of a part (its default; Starlette does not change it)
from python_multipart.multipart import DEFAULT_MAX_HEADER_SIZE as _MAX_HEADER_LINE
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.errors import UploadTooLarge, ValidationError
from resolvers.metadata import Kind

_SEGMENTS = "|".join(re.escape(k.segment) for k in Kind)
_ENTITY_UPLOAD = re.compile(rf"^/(?:{_SEGMENTS})(?:/[^/]+/versions)?/?$")
_RUN_RESULT = re.compile(r"^/runner/runs/[^/]+/result/?$")


class RequestTooLarge(UploadTooLarge):
    """The request body is over the limit that applies to it."""

    def __init__(self, limit: int, what: str) -> None:
        super().__init__("body", f"over the limit of {limit} bytes for {what}")


def body_limit(scope: Scope, settings: Any) -> tuple[int, str]:
    """(the most bytes this request's body may have, what the limit is for)."""
    path: str = scope.get("path", "")
    method: str = scope.get("method", "")
    multipart = _content_type(scope) == "multipart/form-data"
    uploads = settings.max_upload_bytes + settings.max_unpacked_bytes
    if method == "POST" and multipart and (_ENTITY_UPLOAD.match(path) or path == "/graphql"):
        return uploads, "uploads (WEBLAB_MAX_UPLOAD_BYTES + WEBLAB_MAX_UNPACKED_BYTES)"
    if path == "/sparql/graphs" or path.startswith("/sparql/graphs/"):
        return settings.max_upload_bytes, "SPARQL Graph Store writes (WEBLAB_MAX_UPLOAD_BYTES)"
    if method == "POST" and _RUN_RESULT.match(path):
        return settings.max_unpacked_bytes, "result archives (WEBLAB_MAX_UNPACKED_BYTES)"
    return settings.max_body_bytes, "requests other than uploads (WEBLAB_MAX_BODY_BYTES)"


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _send_error(send: Send, error: RequestTooLarge) -> None:
    """The 413, without ``Connection: close``: uvicorn then reads and drops the rest of the body and closes
    the connection gently. Closing it at once, with the body unread, resets it, and the client may lose
    the answer before it reads it."""
    body = json.dumps(error.to_json()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for a request body over its limit (:func:`body_limit`), declared or streamed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = body_limit(scope, scope["app"].state.settings)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_error(send, RequestTooLarge(limit, what))
            return
        received = 0
        over: RequestTooLarge | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over is not None:
                raise over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = RequestTooLarge(limit, what)
                    raise over
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over is not None and not started:
                return  # the app's answer to a cut-off body (whatever it made of it) is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if over is None or started:
                raise
        if over is not None and not started:
            await _send_error(send, over)


def multipart_problem(exc: BaseException) -> str | None:
    """What is wrong with a multipart body Starlette refused, or None when ``exc`` is about something else."""
    problem = exc if isinstance(exc, MultiPartException) else exc.__context__
    if not isinstance(problem, MultiPartException):
        return None
    if problem.__cause__ is None:  # Starlette's own message says it ("Missing boundary in multipart.", ...)
        return problem.message
    reason = str(problem.__cause__)
    if "header size" in reason.lower():
        size = f" of {_MAX_HEADER_LINE} bytes"
        reason += (
            f": a header line of a part is over the limit{size}; "
            "a file name or field name that long is not accepted"
        )
    return f"malformed multipart body ({reason})"


_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_json(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": _CODES.get(status, f"http_{status}"), "message": message}}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's ``HTTPException`` in the platform's JSON error shape (its headers, e.g. ``Allow``, kept)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    problem = multipart_problem(exc) if exc.status_code == 400 else None
    if problem is not None:
        return JSONResponse(ValidationError("body", problem).to_json(), status_code=400, headers=exc.headers)
    return JSONResponse(
        error_json(exc.status_code, exc.detail), status_code=exc.status_code, headers=exc.headers
    )
