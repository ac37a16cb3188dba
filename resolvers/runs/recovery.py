"""Keeping PostgreSQL's runs and Redis's jobs in agreement: :func:`recover`, run on start and by
:func:`supervise` every few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import Job, JobStatus

from resolvers.runs.queueing import enqueue, forget_job
from resolvers.runs.records import (
    COLUMNS,
    MAX_ATTEMPTS,
    STALE_AFTER,
    SUPERVISE_INTERVAL,
    fetch_runs,
    record_ended,
)
from resolvers.services import Services

log = logging.getLogger(__name__)

# The runs this deployment recovers: its own (the arq queue it enqueued them in), and rows from before
# runs recorded their queue. Another deployment on the same database has other runs and another queue.
OWN_RUNS = "(queue_name = %(queue_name)s OR queue_name IS NULL)"

# --- recovery ----------------------------------------------------------------------------------


@dataclass
class Recovery:
    """What one :func:`recover` pass did (run ids)."""

    requeued: list[str] = field(default_factory=list)  # QUEUED rows whose job was gone
    orphans_removed: list[str] = field(default_factory=list)  # jobs with no queued run
    retried: list[str] = field(default_factory=list)  # RUNNING runs whose worker was lost, queued again
    failed: list[str] = field(default_factory=list)  # ... and those out of attempts

    def __bool__(self) -> bool:
        return bool(self.requeued or self.orphans_removed or self.retried or self.failed)


async def recover(
    services: Services,
    *,
    stale_after: float = STALE_AFTER,
    max_attempts: int = MAX_ATTEMPTS,
    reap: bool = True,
) -> Recovery:
    """Make PostgreSQL and Redis agree again, and (with ``reap``) release runs whose worker died.

    Safe to run at any time, from any number of web processes.
    """
    report = Recovery()
    if reap:
        await _reap(services, report, stale_after, max_attempts)
    await _reconcile(services, report)
    if report:
        log.info("run recovery: %s", report)
    return report


async def _reap(services: Services, report: Recovery, stale_after: float, max_attempts: int) -> None:
    """Workers lost mid-run: no heartbeat for ``stale_after`` seconds."""
    async with services.db.connection() as conn:
        cur = await conn.execute(
            "UPDATE runs SET"
            " status = CASE WHEN attempts >= %(max)s THEN 'FAILED' ELSE 'QUEUED' END,"
            " finished_at = CASE WHEN attempts >= %(max)s THEN now() ELSE NULL END,"
            " error = format('worker %%s stopped responding (no heartbeat for %%s s) on attempt %%s of %%s',"
            "                coalesce(worker, '?'), %(stale)s::int, attempts, %(max)s)"
            " || CASE WHEN attempts >= %(max)s THEN '; giving up' ELSE '; queued again' END,"
            " claim = NULL"
            " WHERE status = 'RUNNING' AND coalesce(heartbeat_at, started_at, queued_at)"
            "       < now() - make_interval(secs => %(stale)s)"
            f" AND {OWN_RUNS}"
            " RETURNING id, status, queue",
            {"max": max_attempts, "stale": stale_after, "queue_name": services.settings.queue_name},
        )
        for run_id, status, queue in await cur.fetchall():
            run_id = str(run_id)
            await forget_job(services, run_id)
            if status == "QUEUED":
                await enqueue(services, run_id, queue)
                report.retried.append(run_id)
            else:
                report.failed.append(run_id)
    await record_ended(services, report.failed)


async def _reconcile(services: Services, report: Recovery) -> None:
    """Queued runs whose job is gone are enqueued; jobs with no run waiting for them are removed."""
    redis = services.redis
    queue_name = services.settings.queue_name
    # Queued runs whose job is gone (Redis restarted or flushed, job expired).
    queued = await fetch_runs(
        services.db,
        f"SELECT {COLUMNS} FROM runs WHERE status = 'QUEUED' AND {OWN_RUNS}",
        {"queue_name": queue_name},
    )
    for run in queued:
        status = await Job(run.id, redis, _queue_name=queue_name).status()
        if status in (JobStatus.not_found, JobStatus.complete):
            await forget_job(services, run.id)
            await enqueue(services, run.id, run.queue)
            report.requeued.append(run.id)

    # Jobs with no run waiting for them (a row that never committed, a run cancelled or finished).
    job_ids = [j.decode() if isinstance(j, bytes) else j for j in await redis.zrange(queue_name, 0, -1)]
    candidates = []
    for job_id in job_ids:
        try:
            candidates.append(str(uuid.UUID(job_id)))
        except ValueError:
            continue  # not an experiment job (e.g. ping)
    if candidates:
        async with services.db.connection() as conn:
            cur = await conn.execute(
                "SELECT id::text, status FROM runs WHERE id = ANY(%s::uuid[])", (candidates,)
            )
            known: dict[str, str] = dict(await cur.fetchall())
        for job_id in candidates:
            if known.get(job_id) in ("QUEUED", "RUNNING"):
                continue
            if await redis.exists(in_progress_key_prefix + job_id):
                continue  # running right now; it will find its run gone and stop
            await redis.zrem(queue_name, job_id)
            await redis.delete(job_key_prefix + job_id)
            report.orphans_removed.append(job_id)


async def supervise(services: Services, interval: float = SUPERVISE_INTERVAL, **options: Any) -> None:
    """Run :func:`recover` now and then every ``interval`` seconds until cancelled (every web server runs one;
    :func:`recover_as_supervisor` lets one recover at a time).

    Lost workers are reaped only once this supervisor has watched for ``stale_after`` seconds itself: after
    the server was down, workers that could not report meanwhile get the chance to do so first.
    """
    loop = asyncio.get_running_loop()
    watching_since = loop.time()
    stale_after = float(options.get("stale_after", STALE_AFTER))
    while True:
        try:
            await recover_as_supervisor(services, reap=loop.time() - watching_since >= stale_after, **options)
        except asyncio.CancelledError:
            raise
        except Exception:  # a passing outage of Redis or PostgreSQL: try again next round
            log.exception("run recovery failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


async def recover_as_supervisor(services: Services, **options: Any) -> Recovery | None:
    """:func:`recover`, if no other web server of this deployment is recovering right now; else None.

    Every web server runs a supervisor, so that one stopping leaves the others; a transaction-scoped advisory
    lock, keyed by the queue name, lets one recover at a time while the others skip their round.
    """
    lock = f"weblab run supervisor {services.settings.queue_name}"
    async with services.db.connection() as conn, conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (lock,))
        row = await cur.fetchone()
        if row is None or not row[0]:
            return None
        return await recover(services, **options)


async def start_supervisor(services: Services) -> None:
    """A startup hook for the web app (``app.state.startup_hooks``): recovery on start, then periodically.

    The task is kept on ``services.run_supervisor``; :func:`stop_supervisor` ends it at shutdown.
    """
    if services.run_supervisor is None:
        services.run_supervisor = asyncio.create_task(supervise(services), name="run supervisor")


async def stop_supervisor(services: Services) -> None:
    task = services.run_supervisor
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        services.run_supervisor = None
