"""The run lifecycle and the runner contract, driven over HTTP as a worker would, without a worker process."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from arq.jobs import Job, JobStatus

from resolvers import runs
from resolvers.runs import recovery
from resolvers.services import Services
from resolvers.settings import Settings
from tests.conftest import bearer
from tests.runs.conftest import Publish, wait_for
from worker.contract import SIGNATURE_HEADER, sign_request


class Worker:
    """Plays a worker against the app: signed claim, progress and result calls."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, claim: str | None = None) -> None:
        self.client, self.key, self.claim = client, settings.signing_key, claim or uuid.uuid4().hex

    async def call(
        self, path: str, body: bytes, content_type: str = "application/json", key: str | None = None
    ) -> httpx.Response:
        headers = {
            "Content-Type": content_type,
            SIGNATURE_HEADER: sign_request(key or self.key, "POST", path, body),
        }
        return await self.client.post(path, content=body, headers=headers)

    async def claim_run(self, run_id: str) -> dict[str, Any]:
        r = await self.call(
            f"/runner/runs/{run_id}/claim", json.dumps({"claim": self.claim, "worker": "w1"}).encode()
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def progress(self, run_id: str, done: int, total: int) -> dict[str, Any]:
        body = json.dumps({"claim": self.claim, "done": done, "total": total}).encode()
        r = await self.call(f"/runner/runs/{run_id}/progress", body)
        assert r.status_code == 200, r.text
        return r.json()

    async def result(self, run_id: str, status: str, archive: bytes) -> httpx.Response:
        return await self.call(
            f"/runner/runs/{run_id}/result?claim={self.claim}&status={status}&engine=test",
            archive,
            "application/zip",
        )


def archive(**files: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "manifest.xml",
            "<omexManifest xmlns='http://identifiers.org/combine.specifications/omex-manifest'/>",
        )
        for name, text in files.items():
            zf.writestr(name.replace("__", "-").replace("_dot_", "."), text)
    return buffer.getvalue()


RESULT = archive(**{"outputs_APD90_dot_csv": "# APD\n250.5\n", "stdout_dot_txt": "ran\n"})


async def _pair(publish: Publish, owner: Any, model_files: list, **spec: Any) -> tuple[str, str]:
    return await publish(owner[0], model=model_files[0]), await publish(owner[0], **spec)


async def test_creating_a_run_writes_a_queued_row_and_a_job_with_the_same_id(
    client: httpx.AsyncClient, services: Services, publish: Publish, owner: Any, model_files: list
) -> None:
    model, protocol = await _pair(publish, owner, model_files)
    r = await client.post("/runs", json={"model": model, "protocol": protocol}, headers=bearer(owner[1]))
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "QUEUED" and run["queue"] == "interactive"
    job = Job(run["id"], services.redis, _queue_name=services.settings.queue_name)
    assert await job.status() == JobStatus.queued
    assert (await job.info()).function == "run_experiment"
    again = await client.post("/runs", json={"model": model, "protocol": protocol}, headers=bearer(owner[1]))
    assert again.json()["id"] == run["id"], "an experiment with a queued run is not queued twice"
    await runs.mark_cancelled(services, run["id"], "test over")


async def test_interactive_runs_are_taken_before_bulk_runs(
    services: Services, publish: Publish, owner: Any, model_files: list
) -> None:
    model = await publish(owner[0], model=model_files[0])
    bulk = [await runs.create_run(services, model, await publish(owner[0]), queue="bulk") for _ in range(2)]
    interactive = [
        await runs.create_run(services, model, await publish(owner[0]), queue="interactive") for _ in range(2)
    ]
    order = [j.decode() for j in await services.redis.zrange(services.settings.queue_name, 0, -1)]
    mine = [i for i in order if i in {r.id for r in bulk + interactive}]
    assert mine == [r.id for r in interactive + bulk], "interactive first, each band first-in first-out"
    for r in bulk + interactive:
        await runs.mark_cancelled(services, r.id, "test over")


async def test_claim_progress_result_and_forward_only_status(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
) -> None:
    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol, caller=owner[0])
    worker, rival = Worker(client, settings), Worker(client, settings)

    granted = await worker.claim_run(run.id)
    assert granted["proceed"] and granted["status"] == "RUNNING"
    assert (await worker.claim_run(run.id))["proceed"], "a repeated claim (lost answer) is granted again"
    assert not (await rival.claim_run(run.id))["proceed"], "another worker may not take a running run"

    assert (await worker.progress(run.id, 2, 5)) == {"stop": False, "status": "RUNNING"}
    await worker.progress(run.id, 1, 5)  # late, out-of-order report
    now = await runs.get_run(services.db, run.id)
    assert (now.progress_done, now.progress_total, now.attempts) == (2, 5, 1)

    first = await worker.result(run.id, "SUCCESS", RESULT)
    assert first.status_code == 200 and first.json() == {"status": "SUCCESS", "changed": True}
    repeated = await worker.result(run.id, "SUCCESS", RESULT)
    assert repeated.json() == {"status": "SUCCESS", "changed": False}
    late_failure = await worker.result(run.id, "FAILED", archive(**{"errors_dot_txt": "boom"}))
    assert late_failure.json() == {"status": "SUCCESS", "changed": False}
    assert (await worker.progress(run.id, 3, 5))["stop"] is True
    assert not (await worker.claim_run(run.id))["proceed"]
    done = await runs.get_run(services.db, run.id)
    assert done.status == "SUCCESS" and done.error is None and done.finished_at is not None

    r = await client.get(f"/runs/{run.id}/archive", headers=bearer(owner[1]))
    assert r.status_code == 200 and r.content == RESULT


async def test_callbacks_must_be_signed_with_the_shared_secret(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
) -> None:
    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol)
    body = json.dumps({"claim": "x", "worker": "w"}).encode()
    unsigned = await client.post(f"/runner/runs/{run.id}/claim", content=body)
    forged = await Worker(client, settings).call(f"/runner/runs/{run.id}/claim", body, key="not the secret")
    assert unsigned.status_code == forged.status_code == 401
    assert "signed" in forged.json()["error"]["message"]
    assert (await runs.get_run(services.db, run.id)).status == "QUEUED"
    await runs.mark_cancelled(services, run.id, "test over")


async def test_a_signed_callback_with_text_the_database_cannot_hold_is_refused(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
) -> None:
    """A NUL in a worker name (found by the fuzzer) reached PostgreSQL, which refuses it: 500 instead of 400."""
    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol)
    worker = Worker(client, settings)
    nul = await worker.call(
        f"/runner/runs/{run.id}/claim", json.dumps({"claim": "c", "worker": "w\x00"}).encode()
    )
    assert nul.status_code == 400 and nul.json()["error"]["field"] == "worker", nul.text
    long = await worker.call(
        f"/runner/runs/{run.id}/claim", json.dumps({"claim": "c" * 5000, "worker": "w"}).encode()
    )
    assert long.status_code == 400 and long.json()["error"]["field"] == "claim", long.text
    result = await worker.call(
        f"/runner/runs/{run.id}/result?claim=c&status=SUCCESS&engine=%00", RESULT, "application/zip"
    )
    assert result.status_code == 400 and result.json()["error"]["field"] == "engine", result.text
    assert (await runs.get_run(services.db, run.id)).status == "QUEUED"
    await runs.mark_cancelled(services, run.id, "test over")


async def test_cancelling_a_queued_run_removes_its_job_so_it_never_runs(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
    make_user: Any,
) -> None:
    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol, caller=owner[0])
    _, stranger = await make_user("stranger")
    refused = await client.post(f"/runs/{run.id}/cancel", headers=bearer(stranger))
    assert refused.status_code == 403
    r = await client.post(f"/runs/{run.id}/cancel", headers=bearer(owner[1]))
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    job = Job(run.id, services.redis, _queue_name=settings.queue_name)
    assert await job.status() == JobStatus.not_found
    assert not (await Worker(client, settings).claim_run(run.id))["proceed"]
    assert (await runs.get_run(services.db, run.id)).attempts == 0


async def test_a_lost_worker_is_retried_then_failed_with_the_reason(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
) -> None:
    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol)
    lost = Worker(client, settings)
    await lost.claim_run(run.id)

    report = await runs.recover(services, stale_after=0, max_attempts=2)
    assert run.id in report.retried
    again = await runs.get_run(services.db, run.id)
    assert again.status == "QUEUED" and "stopped responding" in (again.error or "")
    assert await Job(run.id, services.redis, _queue_name=settings.queue_name).status() == JobStatus.queued
    late = await lost.result(run.id, "SUCCESS", RESULT)
    assert late.status_code == 409, "the lost attempt no longer holds the run"

    await Worker(client, settings).claim_run(run.id)
    report = await runs.recover(services, stale_after=0, max_attempts=2)
    assert run.id in report.failed
    failed = await runs.get_run(services.db, run.id)
    assert failed.status == "FAILED" and failed.attempts == 2
    assert "stopped responding" in (failed.error or "") and "giving up" in (failed.error or "")
    graph = f"{settings.base_uri.rstrip('/')}/runs/{run.id}"
    status = [
        r["s"].value
        for r in services.store.query(
            f"SELECT ?s WHERE {{ GRAPH <{graph}> {{ <{graph}> <https://w3id.org/weblab/ns#status> ?s }} }}"
        )
    ]
    assert status == ["FAILED"], "a run given up is in the store too, with its status"


async def test_jobs_without_rows_and_rows_without_jobs_are_reconciled(
    services: Services, settings: Settings, publish: Publish, owner: Any, model_files: list
) -> None:
    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol, queue="bulk")
    await services.redis.zrem(settings.queue_name, run.id)  # as if Redis lost it
    await services.redis.delete("arq:job:" + run.id)
    orphan = str(uuid.uuid4())
    await services.redis.enqueue_job(
        "run_experiment", orphan, _job_id=orphan, _queue_name=settings.queue_name
    )

    report = await runs.recover(services)
    assert run.id in report.requeued and orphan in report.orphans_removed
    assert await Job(run.id, services.redis, _queue_name=settings.queue_name).status() == JobStatus.queued
    assert await Job(orphan, services.redis, _queue_name=settings.queue_name).status() == JobStatus.not_found
    await runs.mark_cancelled(services, run.id, "test over")


async def test_a_run_is_seen_only_by_those_who_see_both_versions(
    client: httpx.AsyncClient,
    services: Services,
    publish: Publish,
    owner: Any,
    model_files: list,
    make_user: Any,
) -> None:
    model = await publish(owner[0], model=model_files[0], visibility="private")
    protocol = await publish(owner[0])
    run = await runs.create_run(services, model, protocol, caller=owner[0])
    _, other = await make_user("other")
    assert (await client.get(f"/runs/{run.id}/status", headers=bearer(owner[1]))).status_code == 200
    assert (await client.get(f"/runs/{run.id}/status", headers=bearer(other))).status_code == 404
    assert (await client.get(f"/runs/{run.id}/status")).status_code == 404
    refused = await client.post("/runs", json={"model": model, "protocol": protocol}, headers=bearer(other))
    assert refused.status_code == 404
    await runs.mark_cancelled(services, run.id, "test over")


async def test_two_users_running_one_experiment_at_once_get_the_same_run(
    services: Services, publish: Publish, owner: Any, model_files: list
) -> None:
    import asyncio

    model, protocol = await _pair(publish, owner, model_files)
    both = await asyncio.gather(*(runs.create_run(services, model, protocol) for _ in range(4)))
    assert len({r.id for r in both}) == 1
    experiment = runs.experiment_uri(services.settings.base_uri, model, protocol)
    assert len(await runs.history(services.db, experiment)) == 1
    await runs.mark_cancelled(services, both[0].id, "test over")


def count_recoveries(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], Awaitable[None]]:
    """``await rounds(n)`` returns once :func:`runs.recover` has finished ``n`` times (the supervisor's rounds)."""
    import asyncio

    done = asyncio.Condition()
    finished = 0
    original = runs.recover

    async def recover(*args: Any, **kwargs: Any) -> runs.Recovery:
        nonlocal finished
        try:
            return await original(*args, **kwargs)
        finally:
            async with done:
                finished += 1
                done.notify_all()

    async def rounds(n: int) -> None:
        async with done:
            await asyncio.wait_for(done.wait_for(lambda: finished >= n), 30)

    monkeypatch.setattr(recovery, "recover", recover)  # what supervise() calls
    return rounds


async def test_the_supervisor_gives_workers_time_to_report_before_reaping(
    client: httpx.AsyncClient,
    services: Services,
    settings: Settings,
    publish: Publish,
    owner: Any,
    model_files: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the server was down, a running run's heartbeat is old but its worker may be fine: not reaped at once."""
    import asyncio

    model, protocol = await _pair(publish, owner, model_files)
    run = await runs.create_run(services, model, protocol)
    await Worker(client, settings).claim_run(run.id)
    async with services.db.connection() as conn:  # its last heartbeat was long before this server started
        await conn.execute(
            "UPDATE runs SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", (run.id,)
        )
    rounds = count_recoveries(monkeypatch)
    loop = asyncio.get_running_loop()
    started = loop.time()
    supervisor = asyncio.create_task(runs.supervise(services, interval=0.05, stale_after=3))
    try:
        await rounds(3)  # the supervisor's first rounds leave the stale run to its worker
        assert (await runs.get_run(services.db, run.id)).status == "RUNNING"
        await wait_for(services, run.id, lambda r: r.status == "QUEUED", timeout=60)
        assert loop.time() - started >= 3, "reaped before the supervisor had watched for stale_after seconds"
    finally:
        supervisor.cancel()
    await runs.mark_cancelled(services, run.id, "test over")
