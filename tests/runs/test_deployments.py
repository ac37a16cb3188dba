"""Several web servers, or several deployments, on one PostgreSQL: recovery takes only its own runs, and one
server of a deployment recovers at a time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest_asyncio
from arq.jobs import Job, JobStatus

from resolvers import runs
from resolvers.runs.recovery import recover_as_supervisor
from resolvers.services import Services


async def _queued_row(services: Services, queue_name: str | None) -> str:
    """A QUEUED run with no job in Redis: what a lost job (Redis restarted, flushed) leaves behind."""
    run_id = str(uuid.uuid4())
    async with services.db.connection() as conn:
        await conn.execute(
            "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, queue_name)"
            " VALUES (%s, %s, 'urn:test:m', 'urn:test:p', %s)",
            (run_id, f"urn:test:experiment:{run_id}", queue_name),
        )
    return run_id


@pytest_asyncio.fixture
async def rows(services: Services) -> AsyncIterator[list[str]]:
    made: list[str] = []
    yield made
    async with services.db.connection() as conn:
        await conn.execute("DELETE FROM runs WHERE id = ANY(%s::uuid[])", (made,))
    for run_id in made:
        await services.redis.zrem(services.settings.queue_name, run_id)
        await Job(run_id, services.redis, _queue_name=services.settings.queue_name).abort(timeout=0)


async def _has_job(services: Services, run_id: str) -> bool:
    status = await Job(run_id, services.redis, _queue_name=services.settings.queue_name).status()
    return status is JobStatus.queued


async def test_recovery_queues_only_this_deployments_runs(services: Services, rows: list[str]) -> None:
    ours = await _queued_row(services, services.settings.queue_name)
    theirs = await _queued_row(services, f"another-deployment-{uuid.uuid4().hex}")
    rows += [ours, theirs]
    report = await runs.recover(services, reap=False)
    assert ours in report.requeued and await _has_job(services, ours)
    assert theirs not in report.requeued and not await _has_job(services, theirs)
    assert (await runs.get_run(services.db, theirs)).status == "QUEUED"  # left for its own deployment


async def test_created_runs_record_their_queue(services: Services, rows: list[str]) -> None:
    run = await runs.create_run(
        services,
        "urn:test:model/versions/1",
        "urn:test:protocol/versions/1",
        missing=("urn:test:term",),
        record=False,
    )
    rows.append(run.id)
    async with services.db.connection() as conn:
        cur = await conn.execute("SELECT queue_name FROM runs WHERE id = %s", (run.id,))
        assert await cur.fetchone() == (services.settings.queue_name,)


async def test_one_server_recovers_at_a_time(services: Services, rows: list[str]) -> None:
    lost = await _queued_row(services, services.settings.queue_name)
    rows.append(lost)
    lock = f"weblab run supervisor {services.settings.queue_name}"
    url = services.settings.database_url
    assert url is not None
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as other_server:
        await other_server.execute("SELECT pg_advisory_lock(hashtext(%s))", (lock,))
        assert await recover_as_supervisor(services, reap=False) is None  # another server is recovering
        assert not await _has_job(services, lost)
        await other_server.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))
    report = await recover_as_supervisor(services, reap=False)
    assert report is not None and lost in report.requeued and await _has_job(services, lost)
