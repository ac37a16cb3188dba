"""The one way tests build the platform app and talk to it in-process.

Every test app is ``web.app.create_app`` as ``weblab serve`` builds it (no
routes added or removed here: a route the app does not mount is missing for the
tests too). ``app_client`` also owns what the app starts lazily: the SPARQL
service behind ``/sparql`` starts query worker processes on first use, and
without a lifespan (httpx's ASGI transport runs none) nothing would stop them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette

from resolvers.settings import Settings
from web.app import create_app

BASE = "http://localhost:8000/"


def build_app(settings: Settings, services: Any = None, *, in_process_worker: bool = False) -> Starlette:
    """The platform app over ``services`` (None: the app opens its own at start-up, as in production).

    Tests queue and drive runs themselves, so no experiment worker runs in the test process by default.
    """
    return create_app(settings, services, in_process_worker=in_process_worker)


def client_of(app: Starlette, base_url: str = BASE) -> httpx.AsyncClient:
    """An in-process client of ``app``; closing it leaves the app (and what it started) running."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url.rstrip("/"))


async def close_sparql(app: Starlette) -> None:
    """Stop the query workers of the app's SPARQL service, if it has started one."""
    service = getattr(app.state, "sparql", None)
    if service is not None:
        await service.close()
        app.state.sparql = None


@contextlib.asynccontextmanager
async def app_client(
    settings: Settings, services: Any, *, sparql: Any = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app over ``services``; the app's SPARQL workers are stopped on the way out.

    ``sparql`` replaces the endpoint's service (one with its own deadline, row cap or pool size, say);
    it is started here, so its workers are up before the first query.
    """
    app = build_app(settings, services)
    if sparql is not None:
        app.state.sparql = sparql
        await sparql.start()
    try:
        async with client_of(app, settings.base_uri) as client:
            yield client
    finally:
        await close_sparql(app)
