"""``/graphql``: GraphQL over HTTP (GET and POST, multipart uploads), GraphiQL for browsers, and
subscriptions over WebSocket (``graphql-transport-ws``).

The schema is built on the first request from the app's settings (its limits),
and each request gets a :class:`schema.context.Context` holding the caller that
``web/auth.py`` found. GraphiQL is served from ``web/static/vendor/graphiql``
(no CDN); the page sends the session's CSRF token with every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from schema.caches import CachedResult
from schema.context import Context, build_context
from schema.limits import Limits
from schema.schema import build_schema

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
            if isinstance(response_data, dict) and response_data.get("data") is None and response_data.get("errors"):
                response.status_code = 400
        return response

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(GRAPHIQL_PAGE.format(assets=ASSETS))


class GraphQLEndpoint:
    """ASGI app for ``/graphql`` that builds the schema from the app's settings once, on first use."""

    def __init__(self) -> None:
        self._app: WeblabGraphQL | None = None

    def app_for(self, settings: Any) -> WeblabGraphQL:
        if self._app is None:
            self._app = WeblabGraphQL(
                build_schema(Limits.from_settings(settings)),
                multipart_uploads_enabled=True,
                subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            )
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app_for(scope["app"].state.settings)(scope, receive, send)


def routes() -> list[BaseRoute]:
    endpoint = GraphQLEndpoint()
    return [
        Route("/graphql", endpoint, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", endpoint),
        Mount(ASSETS, StaticFiles(directory=str(VENDOR)), name="graphiql"),
    ]
