"""Creating runs and their arq jobs, and cancelling them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import psycopg
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus

from resolvers.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from resolvers.permissions import Caller
from resolvers.runs.records import (
    COLUMNS,
    JOB_EXPIRES,
    PRIORITY_MS,
    QUEUES,
    Run,
    check_run_id,
    check_visible,
    experiment_uri,
    fetch_runs,
    get_run,
    record_ended,
    split_version_uri,
    visible_run,
)
from resolvers.services import Services
from worker.contract import JOB_NAME, cancel_key

log = logging.getLogger(__name__)

# --- compatibility -----------------------------------------------------------------------------


def missing_terms(services: Services, model: str, protocol: str) -> tuple[str, ...]:
    """The terms ``protocol`` requires that ``model`` lacks (empty: the pair fits), from the store."""
    from ontology import compatibility

    try:
        return compatibility.check_pair(services.store, services.settings.base_uri, model, protocol).missing
    except compatibility.UnknownVersion as exc:
        raise ValidationError("version", str(exc)) from exc


# --- creating and queueing ---------------------------------------------------------------------


async def enqueue(services: Services, run_id: str, queue: str) -> None:
    """Put the run's job (id = run id) in arq, interactive ones ahead of every bulk one."""
    now = datetime.now(UTC)
    score_time = now - timedelta(milliseconds=PRIORITY_MS) if queue == "interactive" else now
    job = await services.redis.enqueue_job(
        JOB_NAME,
        run_id,
        _job_id=run_id,
        _queue_name=services.settings.queue_name,
        _defer_until=score_time,
        _expires=JOB_EXPIRES,
    )
    if job is None:
        raise Conflict(f"a job for run {run_id} is already in the queue")


async def forget_job(services: Services, run_id: str) -> None:
    """Remove every trace of the run's job from Redis, so that it can be enqueued afresh (or never runs)."""
    redis = services.redis
    await redis.zrem(services.settings.queue_name, run_id)
    await redis.delete(
        job_key_prefix + run_id,
        in_progress_key_prefix + run_id,
        result_key_prefix + run_id,
        retry_key_prefix + run_id,
    )


async def create_run(
    services: Services,
    model: str,
    protocol: str,
    *,
    queue: str = "interactive",
    caller: Caller | None = None,
    missing: Iterable[str] | None = None,
    record: bool = True,
) -> Run:
    """Queue one experiment run, or record it INAPPLICABLE when the model lacks terms the protocol needs.

    With a ``caller`` (a user clicked "run"), both versions must be visible to them; without one
    (automatic runs) the server acts for itself. An experiment that already has a queued or
    running run gets that run back rather than a second one. ``missing`` may pass compatibility
    already known to the caller (run-all computes the whole matrix at once). ``record=False`` leaves the
    graph of a run recorded INAPPLICABLE to the caller, who writes many at once (:func:`record_ended`).
    """
    if queue not in QUEUES:
        raise ValidationError("queue", f"{queue!r} is not a queue; use one of {', '.join(QUEUES)}")
    if caller is not None:
        await check_visible(services, caller, model, protocol)
    lacking = tuple(sorted(missing)) if missing is not None else missing_terms(services, model, protocol)
    experiment = experiment_uri(services.settings.base_uri, model, protocol)
    active_sql = (
        f"SELECT {COLUMNS} FROM runs WHERE experiment_uri = %s AND status IN ('QUEUED', 'RUNNING')"
        " ORDER BY queued_at DESC LIMIT 1"
    )
    active = await fetch_runs(services.db, active_sql, (experiment,))
    if active:
        return active[0]
    run_id = str(uuid.uuid4())
    created_by = caller.id if caller is not None else None
    async with services.db.connection() as conn:
        if lacking:
            await conn.execute(
                "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, status, queue,"
                " finished_at, error, missing_terms, created_by, queue_name)"
                " VALUES (%s, %s, %s, %s, 'INAPPLICABLE', %s, now(), %s, %s, %s, %s)",
                (
                    run_id,
                    experiment,
                    model,
                    protocol,
                    queue,
                    "the model does not annotate terms the protocol requires: " + ", ".join(lacking),
                    list(lacking),
                    created_by,
                    services.settings.queue_name,
                ),
            )
        else:
            try:
                await conn.execute(
                    "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, queue, created_by,"
                    " queue_name) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (run_id, experiment, model, protocol, queue, created_by, services.settings.queue_name),
                )
            except psycopg.errors.UniqueViolation:  # queued by someone else a moment ago
                active = await fetch_runs(services.db, active_sql, (experiment,))
                if active:
                    return active[0]
                raise Conflict("the experiment was queued and finished meanwhile; run it again") from None
    if lacking and record:
        await record_ended(services, [run_id])
    else:
        # The row is committed before the job exists, so a fast worker never claims a row it cannot see yet;
        # if enqueueing fails the row goes again, and if this process dies in between, recover() enqueues it.
        try:
            await enqueue(services, run_id, queue)
        except BaseException:
            async with services.db.connection() as conn:
                await conn.execute("DELETE FROM runs WHERE id = %s AND status = 'QUEUED'", (run_id,))
            raise
    return await get_run(services.db, run_id)


# --- cancelling --------------------------------------------------------------------------------


async def _may_manage(services: Services, caller: Caller | None, run: Run) -> bool:
    if caller is None:
        return False
    if caller.is_admin or (run.created_by is not None and run.created_by == caller.id):
        return True
    from resolvers.entities import Entities
    from resolvers.permissions import can_edit

    entities = Entities.from_services(services)
    for uri in (run.model_version_uri, run.protocol_version_uri):
        try:
            _, access, _ = await entities.get_entity(caller, split_version_uri(uri)[0])
        except NotFound:
            continue
        if can_edit(caller, access):
            return True
    return False


async def cancel_run(
    services: Services, run_id: str, caller: Caller | None, *, reason: str | None = None
) -> Run:
    """Stop a run: a queued job never starts, a running one has its engine process killed within seconds.

    Allowed to the user who started it, editors of its model or protocol, and admins. Cancelling a
    finished run changes nothing and returns it as it is.
    """
    if caller is None:
        raise Unauthenticated()
    run = await visible_run(services, caller, run_id)
    if not await _may_manage(services, caller, run):
        raise Forbidden(
            "only the user who started a run, editors of its model or protocol, or an admin may cancel it"
        )
    return await mark_cancelled(services, run.id, reason or f"cancelled by {caller.name}")


async def mark_cancelled(services: Services, run_id: str, reason: str) -> Run:
    """The server side of cancelling, without permission checks (for the CLI and tests of the mechanism)."""
    async with services.db.connection() as conn:
        cur = await conn.execute(
            "UPDATE runs SET status = 'CANCELLED', finished_at = now(), error = %s"
            " WHERE id = %s AND status IN ('QUEUED', 'RUNNING') RETURNING id",
            (reason, check_run_id(run_id)),
        )
        changed = await cur.fetchone() is not None
    if changed:
        settings = services.settings
        await services.redis.set(cancel_key(settings.queue_name, run_id), b"1", ex=7 * 24 * 3600)
        # A job not started yet is taken out of the queue; one already started sees the key.
        job = Job(run_id, services.redis, _queue_name=settings.queue_name)
        if await job.status() in (JobStatus.queued, JobStatus.deferred):
            await services.redis.zrem(settings.queue_name, run_id)
            await services.redis.delete(job_key_prefix + run_id)
        await record_ended(services, [run_id])
    return await get_run(services.db, run_id)
