"""The arq worker: which jobs it runs and how it is configured.

A worker needs only Redis (and, for experiments, the web server's URL and the
shared secret). It writes arq's health-check key every few seconds, which is
how ``/healthz`` knows the worker pool is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

from arq import Worker
from arq.connections import RedisSettings

from worker.contract import health_check_key, worker_key
from worker.experiment import JOB_FUNCTIONS, ServerAccess

log = logging.getLogger(__name__)

HEALTH_CHECK_INTERVAL = 5


async def ping(ctx: dict[str, Any]) -> str:
    """A job that does nothing: lets tests and /healthz prove a worker is taking jobs."""
    return f"pong from {ctx.get('worker_name', '?')}"


def job_functions() -> list[Any]:
    """Every job a worker can run."""
    return [ping, *JOB_FUNCTIONS]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def _announce(redis: Any, key: str) -> None:
    """Keep this worker's presence key alive; it lapses three intervals after the worker stops."""
    while True:
        await redis.set(key, b"1", ex=3 * HEALTH_CHECK_INTERVAL)
        await asyncio.sleep(HEALTH_CHECK_INTERVAL)


async def on_startup(ctx: dict[str, Any]) -> None:
    ctx["worker_name"] = worker_name()
    ctx["presence"] = asyncio.create_task(
        _announce(ctx["redis"], worker_key(ctx["queue_name"], ctx["worker_name"]))
    )
    log.info("worker %s started", ctx["worker_name"])


async def on_shutdown(ctx: dict[str, Any]) -> None:
    presence = ctx.pop("presence", None)
    if presence is not None:
        presence.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await presence
    with contextlib.suppress(Exception):  # Redis gone: the key lapses by itself
        await ctx["redis"].delete(worker_key(ctx["queue_name"], ctx["worker_name"]))


def make_worker(
    redis_url: str,
    queue_name: str,
    *,
    settings: ServerAccess | None = None,
    max_jobs: int | None = None,
    handle_signals: bool = True,
) -> Worker:
    """A worker of ``queue_name``; without ``settings`` it can run only :func:`ping` (tests, benchmarks)."""
    return Worker(
        functions=job_functions(),
        redis_settings=RedisSettings.from_dsn(redis_url),
        queue_name=queue_name,
        health_check_key=health_check_key(queue_name),
        health_check_interval=HEALTH_CHECK_INTERVAL,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        ctx={"settings": settings, "queue_name": queue_name},
        max_jobs=max_jobs or max(1, os.cpu_count() or 1),
        handle_signals=handle_signals,
        job_timeout=24 * 3600,
        keep_result=3600,
    )


def run_worker(redis_url: str, queue_name: str, settings: ServerAccess) -> None:
    """Blocking entry point of ``weblab worker``; stops on SIGINT/SIGTERM."""
    make_worker(redis_url, queue_name, settings=settings).run()
