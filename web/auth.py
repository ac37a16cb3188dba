"""Who is calling: a bearer API token (programs) or a session cookie (browsers).

The middleware puts the caller in ``request.state.user`` (``None`` when
anonymous) for every HTTP and WebSocket request, and refuses cookie-authenticated
state-changing requests that lack the session's CSRF token in the
``X-CSRF-Token`` header: a cross-site page can make the browser send the
cookie, but cannot read the token (kept in the ``weblab_csrf`` cookie, readable
by our own scripts only, and in the session row).

Logging in is protected too (login CSRF: a cross-site form must not sign the browser in to the attacker's
account). A login whose body is JSON needs nothing more: a cross-site page cannot send
``Content-Type: application/json`` without a CORS preflight, which this server never grants, so programs
log in with JSON and no token. Any other login body (a form, multipart, text) must carry a token equal to the
``weblab_csrf`` cookie (double-submit), in the ``csrf_token`` form field or the ``X-CSRF-Token`` header; the
login page gets such a cookie (and the hidden field) before anyone is signed in. See
``resolvers.sessions.check_login_csrf``.

WebSockets authenticate like HTTP requests, at the handshake; a revoked or unknown bearer token is refused
there with 401. Revoking a token or ending a session is announced on Redis
(``resolvers.sessions.announce_revoked``), so each web server closes the sockets opened with it (``web/routes/graphql.py``); they also re-check it in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers import accounts
from resolvers.services import Services
from resolvers.sessions import CSRF_COOKIE, SESSION_COOKIE, revocation_channel
from web.health import unavailable_response

log = logging.getLogger(__name__)

CSRF_HEADER = b"x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PAGE = "/login"


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
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def refuse_websocket(scope: Scope, receive: Receive, send: Send, status: int, body: dict) -> None:
    """Answers a WebSocket handshake with an HTTP error (or, on servers without that extension, a close before
    accepting, which they answer with 403)."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": data})
    else:
        await send({"type": "websocket.close", "code": 1008})


def _with_login_cookie(scope: Scope, send: Send, token: str) -> Send:
    """``send`` adding a pre-session ``weblab_csrf`` cookie to the response (for the login page's form)."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    cookie = f"{CSRF_COOKIE}={token}; Path=/; SameSite=Lax{secure}".encode("latin-1")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie)]
        await send(message)

    return sending


# --- revocation ------------------------------------------------------------------------------


class RevocationListener:
    """One Redis subscription per process to the revocation channel, while any WebSocket is watching: sets the
    event of each socket opened with a credential announced as revoked."""

    def __init__(self) -> None:
        self._watchers: dict[bytes, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def watch(self, services: Services, secret_digest: bytes, revoked: asyncio.Event) -> None:
        self._watchers.setdefault(secret_digest, set()).add(revoked)
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._listen(services, self._ready), name="revocation listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 2)

    def unwatch(self, secret_digest: bytes, revoked: asyncio.Event) -> None:
        events = self._watchers.get(secret_digest, set())
        events.discard(revoked)
        if not events:
            self._watchers.pop(secret_digest, None)
        if not self._watchers and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _listen(self, services: Services, ready: asyncio.Event) -> None:
        while True:
            pubsub = services.redis.pubsub()
            try:
                await pubsub.subscribe(revocation_channel(services))
                ready.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = message["data"]
                    with contextlib.suppress(ValueError):
                        for event in self._watchers.get(
                            bytes.fromhex(data.decode() if isinstance(data, bytes) else data), ()
                        ):
                            event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: sockets re-check themselves meanwhile
                ready.set()
                log.warning("revocation listener lost Redis: %s", exc)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


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
                secret = authorization[7:].strip()
                user = await accounts.user_for_token(services.db, secret)
                if user is None:
                    body = {
                        "error": {"code": "unauthenticated", "message": "the API token is unknown or revoked"}
                    }
                    if scope["type"] == "http":
                        await _json(send, 401, body)
                    else:
                        await refuse_websocket(scope, receive, send, 401, body)
                    return
                state["user"], state["auth"] = user, "token"
                state["credential"] = accounts.digest(secret)
            elif session_token:
                found = await accounts.session_user(services.db, session_token)
                if found is not None:
                    user, csrf = found
                    state["user"], state["auth"] = user, "session"
                    state["session_token"] = session_token
                    state["csrf_token"] = csrf
                    state["credential"] = accounts.digest(session_token)
                    if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
                        sent = headers.get(CSRF_HEADER, b"").decode("latin-1")
                        if not hmac.compare_digest(sent, csrf):
                            await _json(
                                send,
                                403,
                                {
                                    "error": {
                                        "code": "csrf",
                                        "message": "missing or wrong X-CSRF-Token header (copy it from the weblab_csrf cookie)",
                                    }
                                },
                            )
                            return
        except Exception as exc:
            response = unavailable_response(exc)
            if response is None:
                raise
            if scope["type"] == "http":
                await response(scope, receive, send)
            else:
                await refuse_websocket(
                    scope,
                    receive,
                    send,
                    503,
                    {
                        "error": {
                            "code": "unavailable",
                            "message": "a service the platform needs is down; try again later",
                        }
                    },
                )
            return
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == LOGIN_PAGE:
            # the login form's CSRF token (double-submit): the cookie's value, or a new one set with the page
            if not (token := _cookie(headers, CSRF_COOKIE) or ""):
                token = secrets.token_urlsafe(24)
                send = _with_login_cookie(scope, send, token)
            state["login_csrf"] = token
        await self.app(scope, receive, send)
