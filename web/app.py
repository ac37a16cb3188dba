"""The Starlette application: routes, middleware, error shape, and the services' lifetime.

``create_app(settings)`` starts its services in the lifespan (the ``weblab
serve`` path); ``create_app(settings, services)`` uses services the caller
owns (tests). With the embedded default, an arq worker runs in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from resolvers import runs
from resolvers.errors import WeblabError
from resolvers.services import Services
from resolvers.settings import Settings
from web import metrics, operator
from web.auth import AuthMiddleware
from web.health import unavailable_response
from web.limits import BodyLimitMiddleware, http_error
from web.logs import RequestLogMiddleware
from web.metrics import Metrics, MetricsMiddleware
from web.routes import accounts, entities, graphql, health, linked_data, pages, runner, sparql
from web.routes import operator as operator_routes
from web.services import start_services
from worker.queue import make_worker

log = logging.getLogger(__name__)


def all_routes() -> list[BaseRoute]:
    # /sparql first: Starlette tries routes in order, and the endpoint's throughput is benchmarked
    # (sixty routes' regexes before it cost 60 µs a query).
    return [
        *sparql.routes(),
        *health.routes(),
        *metrics.routes(),
        *accounts.routes(),
        *pages.routes(),
        *runner.routes(),
        *operator_routes.routes(),
        *graphql.routes(),
        *entities.routes(),
        *linked_data.routes(),
    ]


async def weblab_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WeblabError)
    return JSONResponse(exc.to_json(), status_code=exc.status)


async def service_error(request: Request, exc: Exception) -> Response:
    response = unavailable_response(exc)
    if response is None:
        raise exc
    return response


def _service_exceptions() -> list[type[BaseException]]:
    import psycopg
    import redis.exceptions
    from psycopg_pool import PoolTimeout

    return [
        psycopg.OperationalError,
        PoolTimeout,
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
    ]


def create_app(
    settings: Settings,
    services: Services | None = None,
    *,
    in_process_worker: bool | None = None,
    close_services: bool | None = None,
) -> Starlette:
    """``close_services`` (default: when the app started them) closes the services at shutdown.

    ``weblab serve`` starts its services before uvicorn (to fail with one clear line) but
    must close them in the lifespan: uvicorn re-raises SIGTERM once it has shut down.
    """
    run_worker = settings.embedded if in_process_worker is None else in_process_worker

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = app.state.services is None if close_services is None else close_services
        if app.state.services is None:
            app.state.services = await start_services(settings)
        svc: Services = app.state.services
        worker_task = None
        if run_worker:
            worker = make_worker(
                svc.redis_url, settings.queue_name, handle_signals=False, settings=svc.settings
            )
            worker_task = asyncio.create_task(worker.async_run(), name="in-process worker")
        for hook in app.state.startup_hooks:
            await hook(svc)
        sparql_endpoint = sparql.service_for(app)
        await sparql_endpoint.start()
        await runs.start_supervisor(svc)
        # `weblab user add`, `import` and `run-all` hand their work to this server while the file is there
        app.state.operator_key = operator.publish(settings)
        try:
            yield
        finally:
            operator.withdraw(settings, app.state.operator_key)
            app.state.operator_key = None
            await runs.stop_supervisor(svc)
            await sparql_endpoint.close()
            if worker_task is not None:
                await worker.close()
                worker_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker_task
            if owned:
                await svc.close()

    app_metrics = Metrics()
    app = Starlette(
        routes=all_routes(),
        # bodies are bounded before authentication reads the database, and logged with their 413
        middleware=[
            Middleware(RequestLogMiddleware),
            Middleware(MetricsMiddleware, metrics=app_metrics),
            Middleware(BodyLimitMiddleware),
            Middleware(AuthMiddleware),
        ],
        exception_handlers={
            WeblabError: weblab_error,
            HTTPException: http_error,
            **{exc: service_error for exc in _service_exceptions()},
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.startup_hooks = []
    app.state.metrics = app_metrics
    app.state.operator_key = None  # set while the lifespan serves (web/operator.py)
    return app
