"""The server's side of the runner contract: what ``web/routes/runner.py`` calls when a worker claims a run,
reports progress, hands it back or sends its result."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg.rows import dict_row

from resolvers import provenance
from resolvers.errors import Conflict, NotFound, ValidationError
from resolvers.runs.records import (
    COLUMNS,
    MAX_ATTEMPTS,
    RESULT_STATUSES,
    Run,
    check_run_id,
    flush_store,
    get_run,
    record_ended,
)
from resolvers.services import Services
from resolvers.settings import Settings

log = logging.getLogger(__name__)

# --- the runner contract (called by web/routes/runner.py) ----------------------------------------


@dataclass(frozen=True)
class Claim:
    proceed: bool
    run: Run


async def claim_run(services: Services, run_id: str, claim: str, worker: str) -> Claim:
    """A worker asks to start a run: QUEUED → RUNNING under its ``claim``; refused in any other state.

    Repeating the same claim (the worker retried after a lost answer) is granted again.
    """
    run_id = check_run_id(run_id)
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
            (done, total, check_run_id(run_id), claim),
        )
    return await get_run(services.db, run_id)


async def release_run(
    services: Services, run_id: str, claim: str, reason: str, *, max_attempts: int = MAX_ATTEMPTS
) -> Run:
    """A worker gives a run back unfinished (it is shutting down): RUNNING → QUEUED while attempts remain,
    else FAILED with the reason. Only the claim holding the run may release it; otherwise nothing changes."""
    run_id = check_run_id(run_id)
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


async def finish_run(
    services: Services,
    run_id: str,
    claim: str,
    status: str,
    archive: bytes,
    *,
    engine_version: str = "",
    missing: Iterable[str] = (),
) -> Finish:
    """The worker's final report: store the archive, write the run's graph, make the status final.

    Idempotent and forward-only: a run already in a final status is returned unchanged
    (``changed=False``) whatever the report says; a report from a claim that no longer holds
    the run is a Conflict (the run was requeued and another attempt owns it).
    """
    run_id = check_run_id(run_id)
    if status not in RESULT_STATUSES:
        raise ValidationError(
            "status",
            f"{status!r} is not a final status a worker may report ({', '.join(sorted(RESULT_STATUSES))})",
        )
    settings = services.settings
    async with services.db.connection() as conn:
        async with conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(f"SELECT {COLUMNS} FROM runs WHERE id = %s FOR UPDATE", (run_id,))
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
            finished = Run(
                **{
                    **asdict(run),
                    "status": status,
                    "finished_at": ended,
                    "archive_path": str(path.relative_to(settings.files)),
                    "missing_terms": tuple(lacking),
                    "error": error,
                }
            )
            provenance.write_run_graph(
                services.store, settings.base_uri, finished, outputs, engine_version=engine_version
            )
            await conn.execute(
                "UPDATE runs SET status = %s, finished_at = %s, archive_path = %s, error = %s, missing_terms = %s,"
                " progress_done = CASE WHEN %s = 'SUCCESS' THEN GREATEST(progress_done, progress_total)"
                " ELSE progress_done END WHERE id = %s",
                (status, ended, finished.archive_path, error, lacking, status, run_id),
            )
    await flush_store(services.store)
    return Finish(await get_run(services.db, run_id), True)
