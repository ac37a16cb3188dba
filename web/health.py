"""Is each service up? Used by ``GET /healthz`` and to answer 503 when one is down.

While PostgreSQL or Redis is unreachable, the process keeps running: requests
that need the service get 503 naming it, and the pool reconnects when it
returns.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import psycopg
import redis.exceptions
from psycopg_pool import PoolTimeout
from starlette.responses import JSONResponse

from worker.contract import health_check_key

if TYPE_CHECKING:
    from resolvers.services import Services

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0


def unavailable_response(exc: BaseException) -> JSONResponse | None:
    """A 503 naming the service, when ``exc`` means a service is unreachable; else None."""
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        service = "postgresql"
    elif isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | ConnectionError):
        service = "redis"
    else:
        return None
    log.warning("%s unavailable: %s", service, exc)
    return JSONResponse(
        {
            "error": {
                "code": "service_unavailable",
                "message": f"{service} is unavailable; try again shortly",
                "service": service,
            }
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _postgres(services: Services) -> dict[str, Any]:
    async with services.db.connection(timeout=CHECK_TIMEOUT) as conn:
        await conn.execute("SELECT 1")
    return {"status": "up"}


async def _redis(services: Services) -> dict[str, Any]:
    await services.redis.ping()
    return {"status": "up"}


async def _store(services: Services) -> dict[str, Any]:
    await asyncio.to_thread(lambda: bool(services.store.query("ASK { ?s ?p ?o }")))
    return {"status": "up"}


async def _workers(services: Services) -> dict[str, Any]:
    beat = await services.redis.get(health_check_key(services.settings.queue_name))
    if beat is None:
        return {"status": "down", "reason": "no worker has reported in the last minute"}
    return {"status": "up", "last_report": beat.decode() if isinstance(beat, bytes) else str(beat)}


CHECKS = {"postgresql": _postgres, "redis": _redis, "triple_store": _store, "workers": _workers}


async def check_health(services: Services) -> dict[str, dict[str, Any]]:
    async def run(name: str) -> tuple[str, dict[str, Any]]:
        try:
            return name, await asyncio.wait_for(CHECKS[name](services), CHECK_TIMEOUT)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return name, {"status": "down", "reason": reason}

    return dict(await asyncio.gather(*(run(name) for name in CHECKS)))
