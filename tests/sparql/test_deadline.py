"""The query deadline really stops the work, the server keeps serving, and results stop at the row cap."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable

import httpx
import pyoxigraph as ox
import pytest_asyncio

from resolvers import permissions
from sparql import registry
from sparql.service import SparqlService, Workers
from tests.apps import app_client
from tests.sparql.conftest import BASE

SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"


@pytest_asyncio.fixture(scope="module")
async def strict(settings, services) -> AsyncIterator[tuple[httpx.AsyncClient, SparqlService]]:  # noqa: ANN001
    """An app whose endpoint has a 1 s deadline, a 3-row cap and a single worker."""
    noise = ox.NamedNode("http://example.org/noise")
    services.store.replace_graph(
        noise,
        [
            ox.Triple(
                ox.NamedNode(f"http://example.org/n{i}"),
                ox.NamedNode("http://example.org/p"),
                ox.Literal(str(i)),
            )
            for i in range(300)
        ],
    )
    registry.register(services.store, [noise.value])  # an admin's graph: public

    async def scope(user):  # noqa: ANN001, ANN202
        return await permissions.visible_graphs(services, user)

    service = SparqlService(
        services.store, base_uri=BASE, graph_scope=scope, timeout=1.0, max_rows=3, pool_size=1
    )
    async with app_client(settings, services, sparql=service) as client:
        yield client, service
    services.store.drop_graph(noise)


def _alive(pid: int) -> bool:
    """Whether the process still exists and is not a zombie (a killed worker frees its CPU once reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def workers_until(
    service: SparqlService, ready: Callable[[Workers], bool], timeout: float = 20.0
) -> Workers:
    """Poll the service's workers until ``ready`` holds: a replacement worker is started in the background."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ready(workers := service.workers()):
        assert loop.time() < deadline, f"the query workers never got there; they are {workers}"
        await asyncio.sleep(0.02)
    return workers


def _replaced(before: Workers) -> Callable[[Workers], bool]:
    """A full pool again, none of whose processes was there ``before``."""
    return lambda now: (
        len(now.pids) == len(before.pids) and not now.pids & before.pids and now.idle == len(now.pids)
    )


async def _answers_a_fresh_query(client: httpx.AsyncClient, tag: str) -> None:
    """The endpoint answers a query not asked before (a repeated one would be answered without a worker)."""
    r = await client.get("/sparql", params={"query": f"ASK {{}} # {tag}", "format": "json"})
    assert r.status_code == 200 and r.json()["boolean"] is True, r.text


async def test_a_query_past_its_deadline_is_stopped_with_503(strict) -> None:  # noqa: ANN001
    client, service = strict
    before = await workers_until(service, lambda w: len(w.pids) == 1 and w.idle == 1)
    r = await client.get("/sparql", params={"query": SLOW})
    assert r.status_code == 503
    assert "limit" in r.json()["error"]["message"] and "stopped" in r.json()["error"]["message"]
    # the endpoint still answers, the worker that ran the slow query is gone (its CPU is free), and another
    # process has taken its place
    await _answers_a_fresh_query(client, "after a timeout")
    await workers_until(service, _replaced(before))
    assert not any(_alive(pid) for pid in before.pids)


async def test_results_stop_at_the_row_cap_and_say_so(strict) -> None:  # noqa: ANN001
    client, _ = strict
    r = await client.get(
        "/sparql",
        params={
            "query": "SELECT ?s WHERE { GRAPH <http://example.org/noise> { ?s ?p ?o } }",
            "format": "json",
        },
    )
    assert r.status_code == 200
    assert len(r.json()["results"]["bindings"]) == 3
    assert r.headers["weblab-results-truncated"] == "true"
    small = await client.get("/sparql", params={"query": "SELECT (1 AS ?x) {}", "format": "json"})
    assert "weblab-results-truncated" not in small.headers


async def test_a_slow_update_is_refused_before_it_writes(strict, make_user, services) -> None:  # noqa: ANN001
    client, _ = strict
    _, token = await make_user("admin", roles={"admin"})
    update = (
        "INSERT { GRAPH <http://example.org/out> { ?a <http://example.org/q> ?d } } "
        "WHERE { GRAPH <http://example.org/noise> { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l } }"
    )
    r = await client.post(
        "/sparql",
        content=update,
        headers={"Content-Type": "application/sparql-update", "Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 503
    assert "stopped" in r.json()["error"]["message"]
    assert not services.store.has_graph(ox.NamedNode("http://example.org/out"))
    await _answers_a_fresh_query(client, "after a refused update")


async def test_a_worker_killed_from_outside_is_replaced_without_failing_a_query(strict) -> None:  # noqa: ANN001
    client, service = strict
    # a worker replacing one stopped by an earlier test is started in the background: wait for it
    before = await workers_until(service, lambda w: len(w.pids) == 1 and w.idle == 1)
    (pid,) = before.pids
    os.kill(pid, signal.SIGKILL)
    # the pool notices only when it hands the dead worker a query: that query must still be answered
    await _answers_a_fresh_query(client, "first asked after the kill")
    await workers_until(service, _replaced(before))
    assert not _alive(pid)
