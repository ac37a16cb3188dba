"""Who is calling: a bearer API token (programs) or a session cookie (browsers).

The middleware puts the caller in ``request.state.user`` (``None`` when
anonymous) for every HTTP and WebSocket request, and refuses cookie-authenticated
state-changing requests that lack the session's CSRF token in the
``X-CSRF-Token`` header: a cross-site page can make the browser send the
cookie, but cannot read the token (kept in the ``weblab_csrf`` cookie, readable
by our own scripts only, and in the session row).
"""

from __future__ import annotations

import hmac
import json
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers import accounts
from web.health import unavailable_response

SESSION_COOKIE = "weblab_session"
CSRF_COOKIE = "weblab_csrf"
CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


async def _json(send: Send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        services = scope["app"].state.services
        headers = _headers(scope)
        state = scope.setdefault("state", {})
        state["user"] = None
        state["auth"] = None
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        session_token = _cookie(headers, SESSION_COOKIE)
        try:
            if authorization.lower().startswith("bearer "):
                user = await accounts.user_for_token(services.db, authorization[7:].strip())
                if user is None:
                    if scope["type"] == "http":
                        await _json(send, 401, {"error": {"code": "unauthenticated",
                                                          "message": "the API token is unknown or revoked"}})
                    return
                state["user"], state["auth"] = user, "token"
            elif session_token:
                found = await accounts.session_user(services.db, session_token)
                if found is not None:
                    user, csrf = found
                    state["user"], state["auth"] = user, "session"
                    state["session_token"] = session_token
                    state["csrf_token"] = csrf
                    if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
                        sent = headers.get(CSRF_HEADER, b"").decode("latin-1")
                        if not hmac.compare_digest(sent, csrf):
                            await _json(send, 403, {"error": {
                                "code": "csrf",
                                "message": "missing or wrong X-CSRF-Token header (copy it from the weblab_csrf cookie)",
                            }})
                            return
        except Exception as exc:
            response = unavailable_response(exc)
            if response is None:
                raise
            if scope["type"] == "http":
                await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
