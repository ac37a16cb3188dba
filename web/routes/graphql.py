"""``/graphql``: GraphQL over HTTP (GET and POST, multipart uploads), GraphiQL for browsers, and
subscriptions over WebSocket (``graphql-transport-ws``).

The schema is built on the first request from the app's settings (its limits),
and each request gets a :class:`schema.context.Context` holding the caller that
``web/auth.py`` found. GraphiQL is served from ``web/static/vendor/graphiql``
(no CDN); the page sends the session's CSRF token with every request.

A WebSocket opened with an API token or a session cookie lives only as long as that credential
(:class:`CredentialGuard`): it is closed with 4401 as soon as the token is revoked or the session ended (every
web server hears of it on Redis, ``web/auth.py``), and, should that message be lost, before the next message
sent or received once a database re-check (at most every ``RECHECK_SECONDS``, and every
``WATCH_SECONDS`` on an idle socket) finds it gone. Nothing is delivered on a socket whose credential is known to be revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from resolvers import accounts
from resolvers.services import Services
from schema.caches import CachedResult
from schema.context import Context, build_context
from schema.limits import Limits
from schema.schema import build_schema
from web.auth import RevocationListener, refuse_websocket
from web.limits import error_json

VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor" / "graphiql"
ASSETS = "/static/vendor/graphiql"
GRAPHQL_RESPONSE = "application/graphql-response+json"

GRAPHIQL_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Weblab GraphQL</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <style>html, body, #graphiql {{ height: 100%; margin: 0; }}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="{assets}/react.production.min.js"></script>
  <script src="{assets}/react-dom.production.min.js"></script>
  <script src="{assets}/graphiql.min.js"></script>
  <script>
    function csrfToken() {{
      const m = document.cookie.match(/(?:^|; )weblab_csrf=([^;]*)/);
      return m ? decodeURIComponent(m[1]) : "";
    }}
    const url = new URL("/graphql", window.location.href);
    const ws = new URL("/graphql", window.location.href);
    ws.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const fetcher = GraphiQL.createFetcher({{
      url: url.href,
      subscriptionUrl: ws.href,
      headers: {{ "X-CSRF-Token": csrfToken() }},
    }});
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {{ fetcher, defaultEditorToolsVisibility: true }}));
  </script>
</body>
</html>
"""


class _CachedAnswer(dict):
    """The response body of an answer from the response cache, which keeps its encoded JSON."""

    source: CachedResult


class WeblabGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with Weblab's context and its own GraphiQL page."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As strawberry's, but a request refused before GraphQL runs (not JSON, an unsupported content type, a
        missing query) is answered in the platform's JSON error shape, not as plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = JSONResponse(error_json(exc.status_code, exc.reason), status_code=exc.status_code)
        finally:
            await request.close()  # the spooled files of a multipart upload
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if isinstance(response, Response) and GRAPHQL_RESPONSE in request.headers.get("accept", ""):
            response.media_type = GRAPHQL_RESPONSE  # noted here, applied in create_response
        services = request.app.state.services
        user = getattr(request.state, "user", None)
        return build_context(services, user, request, response, request.app.state.settings)

    async def execute_single(self, request: Any, request_adapter: Any, *args: Any, **kwargs: Any) -> Any:
        """As strawberry's, but a mutation over GET is 405 Method Not Allowed (GraphQL over HTTP), not 400."""
        try:
            return await super().execute_single(request, request_adapter, *args, **kwargs)
        except HTTPException as exc:
            if request_adapter.method == "GET" and exc.status_code == 400 and "GET" in exc.reason:
                raise HTTPException(405, exc.reason + "; send it with POST") from exc
            raise

    async def process_result(self, request: Request, result: Any) -> Any:
        data = await super().process_result(request, result)
        if isinstance(result, CachedResult):
            data = _CachedAnswer(data)
            data.source = result
        return data

    def encode_json(self, data: object) -> str | bytes:
        """A cached answer is encoded once, by its first hit, and then sent as those bytes."""
        if isinstance(data, _CachedAnswer):
            if data.source.encoded is None:
                encoded = super().encode_json(data)
                data.source.encoded = encoded.encode() if isinstance(encoded, str) else encoded
            return data.source.encoded
        return super().encode_json(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """GraphQL over HTTP: a client accepting ``application/graphql-response+json`` gets that type, and a
        request that could not run (no ``data``: parse or validation errors, limits) gets status 400."""
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type == GRAPHQL_RESPONSE:
            response.headers["content-type"] = GRAPHQL_RESPONSE
            if (
                isinstance(response_data, dict)
                and response_data.get("data") is None
                and response_data.get("errors")
            ):
                response.status_code = 400
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(GRAPHIQL_PAGE.format(assets=ASSETS))


RECHECK_SECONDS = 1.0
WATCH_SECONDS = 30.0
REVOKED_CLOSE = 4401  # graphql-transport-ws: Unauthorized


class CredentialGuard:
    """Runs one authenticated WebSocket so that it ends with its credential (see the module's docstring)."""

    def __init__(
        self, services: Services, kind: str, secret_digest: bytes, listener: RevocationListener
    ) -> None:
        self.services = services
        self.kind = kind
        self.digest = secret_digest
        self.listener = listener
        self.revoked = asyncio.Event()
        self.closed = asyncio.Event()
        self.checked = 0.0
        self._sending = asyncio.Lock()
        self._send: Send | None = None

    async def valid(self, max_age: float = RECHECK_SECONDS) -> bool:
        """False once the credential is known to be revoked; re-checked in the database when the last check is
        older than ``max_age`` seconds."""
        if self.revoked.is_set():
            return False
        if time.monotonic() - self.checked >= max_age:
            try:
                active = await accounts.credential_active(
                    self.services.db,
                    self.kind,  # type: ignore[arg-type]
                    self.digest,
                )
            except Exception:  # noqa: BLE001 - database away: closed too, the client reconnects later
                active = False
            self.checked = time.monotonic()
            if not active:
                self.revoked.set()
        return not self.revoked.is_set()

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        assert self._send is not None
        async with self._sending:
            with contextlib.suppress(Exception):
                await self._send(
                    {
                        "type": "websocket.close",
                        "code": REVOKED_CLOSE,
                        "reason": "the credential was revoked or the session ended",
                    }
                )

    async def run(self, app: Any, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        disconnect = {"type": "websocket.disconnect", "code": REVOKED_CLOSE}

        async def guarded_receive() -> Message:
            if self.closed.is_set():
                return disconnect
            incoming = asyncio.ensure_future(receive())
            closing = asyncio.ensure_future(self.closed.wait())
            await asyncio.wait({incoming, closing}, return_when=asyncio.FIRST_COMPLETED)
            closing.cancel()
            if not incoming.done():
                incoming.cancel()
                return disconnect
            message = incoming.result()
            if message["type"] == "websocket.receive" and not await self.valid():
                await self.close()
                return disconnect
            return message

        async def guarded_send(message: Message) -> None:
            if self.closed.is_set():
                return
            if message["type"] == "websocket.send" and not await self.valid():
                await self.close()
                return
            async with self._sending:
                if not self.closed.is_set():
                    await send(message)

        async def watch() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.revoked.wait(), WATCH_SECONDS)
                if not await self.valid(0):
                    await self.close()
                    return

        await self.listener.watch(self.services, self.digest, self.revoked)
        watcher = asyncio.create_task(watch())
        try:
            if not await self.valid(
                0
            ):  # revoked between the handshake and listening: refused as at the handshake
                await refuse_websocket(
                    scope,
                    receive,
                    send,
                    401,
                    {
                        "error": {
                            "code": "unauthenticated",
                            "message": "the credential was revoked or the session ended",
                        }
                    },
                )
                return
            await app(scope, guarded_receive, guarded_send)
        finally:
            watcher.cancel()
            self.listener.unwatch(self.digest, self.revoked)


class GraphQLEndpoint:
    """ASGI app for ``/graphql`` that builds the schema from the app's settings once, on first use."""

    def __init__(self) -> None:
        self._app: WeblabGraphQL | None = None
        self._revocations = RevocationListener()

    def app_for(self, settings: Any) -> WeblabGraphQL:
        if self._app is None:
            self._app = WeblabGraphQL(
                build_schema(Limits.from_settings(settings)),
                multipart_uploads_enabled=True,
                subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            )
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app_for(scope["app"].state.settings)
        state = scope.get("state", {})
        if scope["type"] == "websocket" and state.get("credential") is not None:
            guard = CredentialGuard(
                scope["app"].state.services, state["auth"], state["credential"], self._revocations
            )
            await guard.run(app, scope, receive, send)
        else:
            await app(scope, receive, send)


def routes() -> list[BaseRoute]:
    endpoint = GraphQLEndpoint()
    return [
        Route("/graphql", endpoint, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", endpoint),
        Mount(ASSETS, StaticFiles(directory=str(VENDOR)), name="graphiql"),
    ]
