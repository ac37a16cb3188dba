"""``GET /healthz``: the status of every service, 200 when all are up, 503 naming those down."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from web.health import check_health


async def healthz(request: Request) -> JSONResponse:
    services = await check_health(request.app.state.services)
    down = sorted(name for name, state in services.items() if state["status"] != "up")
    body = {"status": "down" if down else "up", "down": down, "services": services}
    return JSONResponse(body, status_code=503 if down else 200, headers={"Cache-Control": "no-store"})


def routes() -> list[BaseRoute]:
    return [Route("/healthz", healthz, methods=["GET"])]
