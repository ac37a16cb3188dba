"""``GET /metrics``: admins (and their scrapers) read requests, latencies, the queue, runs by status and
live workers in the Prometheus text format; nobody else reads anything."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from resolvers.services import Services
from resolvers.settings import Settings
from tests.apps import app_client
from tests.conftest import MakeUser, bearer
from worker.queue import make_worker


@pytest_asyncio.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, services) as client:
        yield client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels, as Prometheus itself would parse it."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scrape(
    client: httpx.AsyncClient, token: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def requests_of(found: dict, route: str, status: str) -> float:
    return found.get(
        ("weblab_http_requests_total", (("method", "GET"), ("route", route), ("status", status))), 0.0
    )


async def test_only_admins_read_metrics(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    _, plain = await make_user("reader")
    anonymous = await client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
    refused = await client.get("/metrics", headers=bearer(plain))
    assert refused.status_code == 403 and "weblab_" not in refused.text


async def test_requests_are_counted_by_route_template_never_by_path(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    _, admin = await make_user("admin", roles={"admin"})
    before = await scrape(client, admin)
    for _ in range(3):
        assert (await client.get("/healthz")).status_code in (200, 503)
    secret_path = f"/no-such-page-{uuid.uuid4().hex}"
    assert (await client.get(secret_path)).status_code == 404
    after = await scrape(client, admin)
    healthz = sum(
        requests_of(after, "/healthz", s) - requests_of(before, "/healthz", s) for s in ("200", "503")
    )
    assert healthz == 3
    assert requests_of(after, "unmatched", "404") - requests_of(before, "unmatched", "404") == 1
    count = ("weblab_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
    assert after[count] - before.get(count, 0.0) == 3
    text = (await client.get("/metrics", headers=bearer(admin))).text
    assert secret_path.strip("/") not in text  # a path is never a label: crawlers cannot grow the metrics


@pytest_asyncio.fixture
async def own_queue(
    settings: Settings, services: Services
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A client of an app on a queue of its own, so that no other test's worker is counted."""
    settings = settings.model_copy(update={"queue_name": f"metrics-{uuid.uuid4().hex}"})
    mine = dataclasses.replace(services, settings=settings)
    async with app_client(settings, mine) as client:
        yield client, mine


async def test_runs_queue_and_workers_are_read_from_the_shared_services(
    own_queue: tuple[httpx.AsyncClient, Services], make_user: MakeUser
) -> None:
    client, services = own_queue
    settings = services.settings
    _, admin = await make_user("admin", roles={"admin"})
    before = await scrape(client, admin)
    assert before[("weblab_workers", ())] == 0 and before[("weblab_queue_jobs", ())] == 0
    ids = [uuid.uuid4() for _ in range(3)]
    async with services.db.connection() as conn:
        for run_id, status in zip(ids, ("FAILED", "FAILED", "SUCCESS"), strict=True):
            await conn.execute(
                "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, status)"
                " VALUES (%s, 'urn:e', 'urn:m', 'urn:p', %s)",
                (run_id, status),
            )
    job = f"metrics-test-{uuid.uuid4().hex}"
    await services.redis.zadd(settings.queue_name, {job: 1})
    try:
        queued = await scrape(client, admin)
    finally:
        await services.redis.zrem(settings.queue_name, job)  # before a worker could take it
    assert queued[("weblab_queue_jobs", ())] == before[("weblab_queue_jobs", ())] + 1
    worker = make_worker(services.redis_url, settings.queue_name, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        async with asyncio.timeout(20):  # the worker announces itself as it starts
            while True:
                during = await scrape(client, admin)
                if during[("weblab_workers", ())] == before[("weblab_workers", ())] + 1:
                    break
                await asyncio.sleep(0.1)
        run = ("weblab_runs", (("status", "FAILED"),))
        assert during[run] - before[run] == 2
        assert (
            during[("weblab_runs", (("status", "SUCCESS"),))]
            - before[("weblab_runs", (("status", "SUCCESS"),))]
            == 1
        )
    finally:
        await worker.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with services.db.connection() as conn:
            await conn.execute("DELETE FROM runs WHERE id = ANY(%s)", (ids,))
    after = await scrape(client, admin)
    assert (
        after[("weblab_workers", ())] == before[("weblab_workers", ())]
    )  # a stopped worker withdraws at once
