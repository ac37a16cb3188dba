"""``GET /metrics``: the process's figures in the Prometheus text format, for admins and scrapers.

Per web server (each process keeps its own request counters; Prometheus sums them over the
servers it scrapes): requests and their latency by method, route template and status. From the
shared services, read at each scrape: jobs waiting in the queue, runs by status, and live workers
(the presence keys workers refresh, ``worker.contract.worker_key``). Routes are labelled by their
template (``/models/{entity_id}``), never by the path itself, so that a crawler cannot grow the
label set without bound; a request no route matched is labelled ``unmatched``.

The figures say how much private work there is (runs of private models count too), so only an
admin may read them: Prometheus sends an admin's API token (``authorization.credentials``).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.errors import Forbidden, Unauthenticated
from resolvers.runs import STATUSES
from resolvers.services import Services
from worker.contract import worker_key

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One app's metrics, in a registry of its own (tests build several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "weblab_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "weblab_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queued_jobs = Gauge(
            "weblab_queue_jobs", "Jobs waiting in the experiment queue.", registry=self.registry
        )
        self.runs = Gauge(
            "weblab_runs", "Runs by status (every deployment's run rows).", ["status"], registry=self.registry
        )
        self.workers = Gauge(
            "weblab_workers", "Workers that announced themselves recently.", registry=self.registry
        )

    async def refresh(self, services: Services) -> None:
        """Read the shared figures now: a scrape sees the deployment as it is, not as it was."""
        queue = services.settings.queue_name
        self.queued_jobs.set(await services.redis.zcard(queue))
        workers = 0
        async for _ in services.redis.scan_iter(match=worker_key(queue, "*"), count=500):
            workers += 1
        self.workers.set(workers)
        async with services.db.connection() as conn:
            cur = await conn.execute("SELECT status, count(*) FROM runs GROUP BY status")
            counts = dict(await cur.fetchall())
        for status in STATUSES:
            self.runs.labels(status=status).set(counts.get(status, 0))


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request (WebSockets are long-lived: not timed)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route, method = _route(scope), scope["method"]
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    user: Any = request.state.user
    if user is None:
        raise Unauthenticated("/metrics needs an admin's API token (Authorization: Bearer ...)")
    if not user.is_admin:
        raise Forbidden("only admins may read /metrics")
    metrics: Metrics = request.app.state.metrics
    await metrics.refresh(request.app.state.services)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    return [Route("/metrics", metrics_endpoint, methods=["GET"])]
