"""Experiment runs: their lifecycle in PostgreSQL, their jobs in arq, and recovery when the two disagree.

A run is one execution of an experiment (a model version × a protocol version,
``{BASE}experiments/{id}``). Its row moves only forward::

    QUEUED ──claim──▶ RUNNING ──result──▶ SUCCESS | PARTIAL | FAILED | INAPPLICABLE
       │                 │    └─worker lost─▶ QUEUED (attempts left) | FAILED (none left)
       └────cancel───────┴──────────────▶ CANCELLED
    (incompatible pairs are written INAPPLICABLE directly and never queued)

Every run keeps its row, so an experiment has a current run (the newest) and a
history. Consistency between the row and the arq job (whose id is the run id):

- :func:`create_run` commits the row, then enqueues the job; a failed enqueue
  deletes the row again, and a crash in between leaves a QUEUED row without a
  job, which :func:`recover` enqueues. A job whose run is unknown, cancelled
  or finished is harmless (the worker's claim is refused) and removed by
  :func:`recover`;
- :func:`recover` (on start and every few seconds, see :func:`supervise`)
  re-enqueues QUEUED runs whose job is gone (Redis restarted or flushed),
  removes jobs that have no queued run, and puts RUNNING runs whose worker
  stopped sending heartbeats back in the queue, or fails them after
  :data:`MAX_ATTEMPTS` attempts, with the reason.

Two queues share one arq queue: interactive jobs are scored
:data:`PRIORITY_MS` earlier than bulk jobs, so a worker always takes every
waiting interactive job first and each band stays first-in, first-out.

Workers never touch PostgreSQL: they call the runner callback
(``web/routes/runner.py``), which calls :func:`claim_run`,
:func:`report_progress` and :func:`finish_run` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyoxigraph as ox
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus
from psycopg.rows import dict_row

from resolvers import provenance
from resolvers.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from resolvers.permissions import Caller, experiment_visible
from resolvers.services import Services
from resolvers.settings import Settings
from worker.contract import JOB_NAME, cancel_key

log = logging.getLogger(__name__)

QUEUES = ("interactive", "bulk")
STATUSES = ("QUEUED", "RUNNING", "SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED")
TERMINAL = frozenset({"SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED"})
RESULT_STATUSES = frozenset({"SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE"})
PRIORITY_MS = 10 * 365 * 24 * 3600 * 1000  # interactive jobs sort this much ahead of bulk ones
JOB_EXPIRES = timedelta(days=30)  # a job waits at most this long in Redis; recover() re-enqueues after
STALE_AFTER = 60.0  # seconds without a heartbeat after which a running run's worker counts as lost
MAX_ATTEMPTS = 3
SUPERVISE_INTERVAL = 15.0


@dataclass(frozen=True)
class Run:
    id: str
    experiment_uri: str
    model_version_uri: str
    protocol_version_uri: str
    status: str
    queue: str
    attempts: int
    progress_done: int
    progress_total: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    error: str | None
    archive_path: str | None
    created_by: int | None
    claim: str | None = None
    heartbeat_at: datetime | None = None
    missing_terms: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        values = dict(row)
        values["id"] = str(values["id"])
        values["missing_terms"] = tuple(values.get("missing_terms") or ())
        return cls(**values)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_json(self, base_uri: str) -> dict[str, Any]:
        """The run as users see it (the claim, a worker-side secret, is left out)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key in ("claim", "archive_path", "heartbeat_at"):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        out["missing_terms"] = list(self.missing_terms)
        out["uri"] = run_uri(base_uri, self.id)
        out["has_archive"] = self.archive_path is not None
        return out


# --- names -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)  # the experiment matrix names ~2,000 experiments per request
def experiment_id(model_version_uri: str, protocol_version_uri: str) -> str:
    """Stable id of an experiment: the same pair of versions always names the same experiment."""
    digest = hashlib.sha256(f"{model_version_uri}\n{protocol_version_uri}".encode()).hexdigest()
    return digest[:24]


def experiment_uri(base_uri: str, model_version_uri: str, protocol_version_uri: str) -> str:
    return f"{base_uri.rstrip('/')}/experiments/{experiment_id(model_version_uri, protocol_version_uri)}"


def run_uri(base_uri: str, run_id: str) -> str:
    return f"{base_uri.rstrip('/')}/runs/{run_id}"


def split_version_uri(uri: str) -> tuple[str, str]:
    """``(entity URI, commit SHA)`` of a version URI ``…/{kind}s/{id}/versions/{sha}``."""
    entity, sep, sha = uri.rpartition("/versions/")
    if not sep or not entity or not sha:
        raise ValidationError("version", f"{uri!r} is not a version URI (…/versions/<sha>)")
    return entity, sha


def _check_run_id(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no run {run_id!r}") from None


# --- reading -----------------------------------------------------------------------------------

_COLUMNS = ("id, experiment_uri, model_version_uri, protocol_version_uri, status, queue, attempts, progress_done, "
            "progress_total, queued_at, started_at, finished_at, worker, error, archive_path, created_by, claim, "
            "heartbeat_at, missing_terms")


async def _fetch(db: Any, sql: str, params: Iterable[Any] = ()) -> list[Run]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, tuple(params))
        return [Run.from_row(row) for row in await cur.fetchall()]


async def get_run(db: Any, run_id: str) -> Run:
    rows = await _fetch(db, f"SELECT {_COLUMNS} FROM runs WHERE id = %s", (_check_run_id(run_id),))
    if not rows:
        raise NotFound(f"no run {run_id}")
    return rows[0]


async def history(db: Any, experiment: str) -> list[Run]:
    """Every run of an experiment, newest first: the first is the experiment's current run."""
    return await _fetch(db, f"SELECT {_COLUMNS} FROM runs WHERE experiment_uri = %s ORDER BY queued_at DESC, id",
                        (experiment,))


async def current_run(db: Any, experiment: str) -> Run | None:
    runs = await history(db, experiment)
    return runs[0] if runs else None


# --- visibility --------------------------------------------------------------------------------

async def check_visible(services: Services, caller: Caller | None, *version_uris: str) -> None:
    """NotFound unless ``caller`` may see every one of these versions (an experiment's rule)."""
    from resolvers.entities import Entities

    entities = Entities.from_services(services)
    for uri in version_uris:
        entity, sha = split_version_uri(uri)
        await entities.get_version(caller, entity, sha)


async def visible_run(services: Services, caller: Caller | None, run_id: str) -> Run:
    """The run if ``caller`` may see it (``permissions.experiment_visible``); NotFound otherwise, so nothing
    leaks."""
    from resolvers.entities import Entities

    run = await get_run(services.db, run_id)
    entities = Entities.from_services(services)

    async def version_visible(uri: str) -> bool:
        entity, sha = split_version_uri(uri)
        try:
            await entities.get_version(caller, entity, sha)
        except (NotFound, ValidationError):
            return False
        return True

    if not await experiment_visible(run.model_version_uri, run.protocol_version_uri, version_visible):
        raise NotFound(f"no run {run_id}")
    return run


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
        JOB_NAME, run_id, _job_id=run_id, _queue_name=services.settings.queue_name,
        _defer_until=score_time, _expires=JOB_EXPIRES,
    )
    if job is None:
        raise Conflict(f"a job for run {run_id} is already in the queue")


async def _forget_job(services: Services, run_id: str) -> None:
    """Remove every trace of the run's job from Redis, so that it can be enqueued afresh (or never runs)."""
    redis = services.redis
    await redis.zrem(services.settings.queue_name, run_id)
    await redis.delete(job_key_prefix + run_id, in_progress_key_prefix + run_id,
                       result_key_prefix + run_id, retry_key_prefix + run_id)


async def create_run(services: Services, model: str, protocol: str, *, queue: str = "interactive",
                     caller: Caller | None = None, missing: Iterable[str] | None = None, record: bool = True) -> Run:
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
    active_sql = (f"SELECT {_COLUMNS} FROM runs WHERE experiment_uri = %s AND status IN ('QUEUED', 'RUNNING')"
                  " ORDER BY queued_at DESC LIMIT 1")
    active = await _fetch(services.db, active_sql, (experiment,))
    if active:
        return active[0]
    run_id = str(uuid.uuid4())
    created_by = caller.id if caller is not None else None
    async with services.db.connection() as conn:
        if lacking:
            await conn.execute(
                "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, status, queue,"
                " finished_at, error, missing_terms, created_by)"
                " VALUES (%s, %s, %s, %s, 'INAPPLICABLE', %s, now(), %s, %s, %s)",
                (run_id, experiment, model, protocol, queue,
                 "the model does not annotate terms the protocol requires: " + ", ".join(lacking),
                 list(lacking), created_by),
            )
        else:
            try:
                await conn.execute(
                    "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, queue, created_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (run_id, experiment, model, protocol, queue, created_by),
                )
            except psycopg.errors.UniqueViolation:  # queued by someone else a moment ago
                active = await _fetch(services.db, active_sql, (experiment,))
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


async def cancel_run(services: Services, run_id: str, caller: Caller | None, *, reason: str | None = None) -> Run:
    """Stop a run: a queued job never starts, a running one has its engine process killed within seconds.

    Allowed to the user who started it, editors of its model or protocol, and admins. Cancelling a
    finished run changes nothing and returns it as it is.
    """
    if caller is None:
        raise Unauthenticated()
    run = await visible_run(services, caller, run_id)
    if not await _may_manage(services, caller, run):
        raise Forbidden("only the user who started a run, editors of its model or protocol, or an admin may cancel it")
    return await mark_cancelled(services, run.id, reason or f"cancelled by {caller.name}")


async def mark_cancelled(services: Services, run_id: str, reason: str) -> Run:
    """The server side of cancelling, without permission checks (for the CLI and tests of the mechanism)."""
    async with services.db.connection() as conn:
        cur = await conn.execute(
            "UPDATE runs SET status = 'CANCELLED', finished_at = now(), error = %s"
            " WHERE id = %s AND status IN ('QUEUED', 'RUNNING') RETURNING id",
            (reason, _check_run_id(run_id)),
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


# --- the runner contract (called by web/routes/runner.py) ----------------------------------------

@dataclass(frozen=True)
class Claim:
    proceed: bool
    run: Run


async def claim_run(services: Services, run_id: str, claim: str, worker: str) -> Claim:
    """A worker asks to start a run: QUEUED → RUNNING under its ``claim``; refused in any other state.

    Repeating the same claim (the worker retried after a lost answer) is granted again.
    """
    run_id = _check_run_id(run_id)
    if not claim:
        raise ValidationError("claim", "a claim token is required")
    async with services.db.connection() as conn:
        cur = await conn.execute(
            "UPDATE runs SET status = 'RUNNING', claim = %s, worker = %s, attempts = attempts + 1,"
            " started_at = now(), heartbeat_at = now(), progress_done = 0, progress_total = 0, error = NULL"
            " WHERE id = %s AND status = 'QUEUED' RETURNING id",
            (claim, worker[:200], run_id),
        )
        granted = await cur.fetchone() is not None
    run = await get_run(services.db, run_id)
    return Claim(granted or (run.status == "RUNNING" and run.claim == claim), run)


async def report_progress(services: Services, run_id: str, claim: str, done: int, total: int) -> Run:
    """Progress and heartbeat of the claimed run; ignored (and the run returned as is) otherwise.

    Progress never goes back: a late report with a smaller count leaves the larger one.
    """
    if done < 0 or total < 0:
        raise ValidationError("progress", "progress counts are not negative")
    async with services.db.connection() as conn:
        await conn.execute(
            "UPDATE runs SET progress_done = GREATEST(progress_done, %s), progress_total = GREATEST(progress_total, %s),"
            " heartbeat_at = now() WHERE id = %s AND status = 'RUNNING' AND claim = %s",
            (done, total, _check_run_id(run_id), claim),
        )
    return await get_run(services.db, run_id)


async def release_run(services: Services, run_id: str, claim: str, reason: str, *,
                      max_attempts: int = MAX_ATTEMPTS) -> Run:
    """A worker gives a run back unfinished (it is shutting down): RUNNING → QUEUED while attempts remain,
    else FAILED with the reason. Only the claim holding the run may release it; otherwise nothing changes."""
    run_id = _check_run_id(run_id)
    async with services.db.connection() as conn:
        await conn.execute(
            "UPDATE runs SET"
            " status = CASE WHEN attempts >= %(max)s THEN 'FAILED' ELSE 'QUEUED' END,"
            " finished_at = CASE WHEN attempts >= %(max)s THEN now() ELSE NULL END,"
            " error = %(reason)s || CASE WHEN attempts >= %(max)s THEN '; giving up' ELSE '; queued again' END,"
            " claim = NULL"
            " WHERE id = %(id)s AND status = 'RUNNING' AND claim = %(claim)s",
            {"max": max_attempts, "reason": reason[:1000], "id": run_id, "claim": claim},
        )
    run = await get_run(services.db, run_id)
    if run.status == "FAILED" and run.archive_path is None:
        await record_ended(services, [run_id])
    return run


def should_stop(run: Run, claim: str) -> bool:
    """What a worker is told: stop unless the run is still running under its claim."""
    return not (run.status == "RUNNING" and run.claim == claim)


def archive_path(settings: Settings, run_id: str) -> Path:
    return settings.archives_dir / "runs" / f"{run_id}.omex"


@dataclass(frozen=True)
class Finish:
    run: Run
    changed: bool


async def finish_run(services: Services, run_id: str, claim: str, status: str, archive: bytes, *,
                     engine_version: str = "", missing: Iterable[str] = ()) -> Finish:
    """The worker's final report: store the archive, write the run's graph, make the status final.

    Idempotent and forward-only: a run already in a final status is returned unchanged
    (``changed=False``) whatever the report says; a report from a claim that no longer holds
    the run is a Conflict (the run was requeued and another attempt owns it).
    """
    run_id = _check_run_id(run_id)
    if status not in RESULT_STATUSES:
        raise ValidationError("status", f"{status!r} is not a final status a worker may report "
                              f"({', '.join(sorted(RESULT_STATUSES))})")
    settings = services.settings
    async with services.db.connection() as conn:
        async with conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = %s FOR UPDATE", (run_id,))
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"no run {run_id}")
            run = Run.from_row(row)
            if run.finished:
                return Finish(run, False)
            if run.status != "RUNNING" or run.claim != claim:
                raise Conflict(f"run {run_id} is not held by this claim (it was requeued or not started)")
            outputs = provenance.read_outputs(archive)  # raises ValidationError on a bad archive
            path = archive_path(settings, run_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(archive)
            os.replace(tmp, path)
            ended = datetime.now(UTC)
            lacking = sorted(set(missing))
            error = provenance.read_errors(archive) if status != "SUCCESS" else None
            finished = Run(**{**asdict(run), "status": status, "finished_at": ended,
                              "archive_path": str(path.relative_to(settings.data_dir)),
                              "missing_terms": tuple(lacking), "error": error})
            provenance.write_run_graph(services.store, settings.base_uri, finished, outputs,
                                       engine_version=engine_version)
            await conn.execute(
                "UPDATE runs SET status = %s, finished_at = %s, archive_path = %s, error = %s, missing_terms = %s,"
                " progress_done = CASE WHEN %s = 'SUCCESS' THEN GREATEST(progress_done, progress_total)"
                " ELSE progress_done END WHERE id = %s",
                (status, ended, finished.archive_path, error, lacking, status, run_id),
            )
    await _flush(services.store)
    return Finish(await get_run(services.db, run_id), True)


async def record_ended(services: Services, run_ids: list[str]) -> None:
    """The graph of each run that ended without a result (inapplicable, cancelled, given up): what is known of
    it is linked data too, as a finished run's is, and its experiment's current run is this one."""
    if not run_ids:
        return
    for run in await _fetch(services.db, f"SELECT {_COLUMNS} FROM runs WHERE id = ANY(%s::uuid[])", (run_ids,)):
        provenance.write_run_graph(services.store, services.settings.base_uri, run, [])
    await _flush(services.store)


async def _flush(store: Any) -> None:
    """Make the new graphs visible to readers in other processes (SPARQL workers) without blocking the event
    loop: a flush takes tens of milliseconds, and every worker callback waits behind a blocked loop."""
    if hasattr(store, "flush"):
        await asyncio.to_thread(store.flush)


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


async def recover(services: Services, *, stale_after: float = STALE_AFTER, max_attempts: int = MAX_ATTEMPTS,
                  reap: bool = True) -> Recovery:
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
            " RETURNING id, status, queue",
            {"max": max_attempts, "stale": stale_after},
        )
        for run_id, status, queue in await cur.fetchall():
            run_id = str(run_id)
            await _forget_job(services, run_id)
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
    queued = await _fetch(services.db, f"SELECT {_COLUMNS} FROM runs WHERE status = 'QUEUED'")
    for run in queued:
        status = await Job(run.id, redis, _queue_name=queue_name).status()
        if status in (JobStatus.not_found, JobStatus.complete):
            await _forget_job(services, run.id)
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
            cur = await conn.execute("SELECT id::text, status FROM runs WHERE id = ANY(%s::uuid[])", (candidates,))
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
    """Run :func:`recover` now and then every ``interval`` seconds until cancelled (one per web server is enough).

    Lost workers are reaped only once this supervisor has watched for ``stale_after`` seconds itself: after
    the server was down, workers that could not report meanwhile get the chance to do so first.
    """
    loop = asyncio.get_running_loop()
    watching_since = loop.time()
    stale_after = float(options.get("stale_after", STALE_AFTER))
    while True:
        try:
            await recover(services, reap=loop.time() - watching_since >= stale_after, **options)
        except asyncio.CancelledError:
            raise
        except Exception:  # a passing outage of Redis or PostgreSQL: try again next round
            log.exception("run recovery failed; retrying in %.0f s", interval)
        await asyncio.sleep(interval)


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


# --- automatic runs ----------------------------------------------------------------------------

@dataclass
class Queued:
    """What :func:`queue_for_version` or :func:`run_all` did."""

    queued: list[str] = field(default_factory=list)
    inapplicable: list[str] = field(default_factory=list)
    skipped: int = 0  # pairs that had a run already


async def _pairs_with_runs(db: Any) -> set[tuple[str, str]]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT DISTINCT model_version_uri, protocol_version_uri FROM runs")
        return {(m, p) for m, p in await cur.fetchall()}


async def _queue_pairs(services: Services, pairs: Iterable[tuple[str, str, tuple[str, ...]]]) -> Queued:
    done = await _pairs_with_runs(services.db)
    result = Queued()
    for model, protocol, lacking in pairs:
        if (model, protocol) in done:
            result.skipped += 1
            continue
        run = await create_run(services, model, protocol, queue="bulk", missing=lacking, record=False)
        (result.inapplicable if run.status == "INAPPLICABLE" else result.queued).append(run.id)
    await record_ended(services, result.inapplicable)
    return result


async def queue_for_version(services: Services, version_uri: str) -> Queued:
    """Queue (bulk) every experiment of a new model or protocol version with the latest version of each
    counterpart its author can see, that has no run yet. Called when a version is added."""
    from ontology import compatibility
    from resolvers import accounts, metadata
    from resolvers.permissions import visible_graphs

    base = services.settings.base_uri
    entity, _ = split_version_uri(version_uri)
    version = next((v for v in metadata.list_versions(services.store.oxigraph, base, entity) if v.uri == version_uri),
                   None)
    if version is None:
        raise NotFound(f"no version {version_uri}")
    try:
        author: Caller | None = await accounts.get_user(services.db, version.author)
    except NotFound:
        author = None
    graphs = await visible_graphs(services, author)
    if version_uri not in {g.value for g in graphs}:
        graphs.append(ox.NamedNode(version_uri))
    if version.kind.value == "model":
        fits = compatibility.check_model(services.store, base, version_uri, graphs=graphs)
    elif version.kind.value == "protocol":
        models = compatibility.versions(services.store, base, "model", graphs=graphs)
        fits = [compatibility.check_pair(services.store, base, m, version_uri, graphs=graphs) for m in models]
    else:
        return Queued()
    return await _queue_pairs(services, ((c.model, c.protocol, c.missing) for c in fits))


async def run_all(services: Services) -> Queued:
    """Queue (bulk) every latest-model × latest-protocol experiment that has no run yet (``weblab run-all``)."""
    from ontology import compatibility

    matrix = compatibility.matrix(services.store, services.settings.base_uri)
    return await _queue_pairs(services, ((c.model, c.protocol, c.missing) for c in matrix))


__all__ = ["Run", "create_run", "cancel_run", "claim_run", "report_progress", "release_run", "finish_run", "recover",
           "supervise", "start_supervisor", "stop_supervisor",
           "run_all", "queue_for_version", "get_run", "history", "current_run"]
