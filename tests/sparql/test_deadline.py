"""The query deadline really stops the work, the server keeps serving, and results stop at the row cap."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pyoxigraph as ox
import pytest_asyncio

from resolvers import permissions
from sparql import registry
from sparql.service import SparqlService
from tests.sparql.conftest import BASE, with_routes
from web.app import create_app

SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"


@pytest_asyncio.fixture(scope="module")
async def strict(settings, services) -> AsyncIterator[tuple[httpx.AsyncClient, SparqlService]]:  # noqa: ANN001
    """An app whose endpoint has a 1 s deadline, a 3-row cap and a single worker."""
    noise = ox.NamedNode("http://example.org/noise")
    services.store.replace_graph(noise, [
        ox.Triple(ox.NamedNode(f"http://example.org/n{i}"), ox.NamedNode("http://example.org/p"), ox.Literal(str(i)))
        for i in range(300)])
    registry.register(services.store, [noise.value])  # an admin's graph: public

    async def scope(user):  # noqa: ANN001, ANN202
        return await permissions.visible_graphs(services, user)

    app = with_routes(create_app(settings, services, in_process_worker=False))
    service = SparqlService(services.store, base_uri=BASE, graph_scope=scope, timeout=1.0, max_rows=3, pool_size=1)
    app.state.sparql = service
    await service.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE.rstrip("/")) as client:
        yield client, service
    await service.close()
    services.store.drop_graph(noise)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_a_query_past_its_deadline_is_stopped_with_503(strict) -> None:  # noqa: ANN001
    client, service = strict
    pids = [w.process.pid for w in service._pool._all]
    r = await client.get("/sparql", params={"query": SLOW})
    assert r.status_code == 503
    assert "limit" in r.json()["error"]["message"] and "stopped" in r.json()["error"]["message"]
    # the worker that ran it is gone (its CPU is free), and the endpoint still answers
    ok = await client.get("/sparql", params={"query": "ASK {}", "format": "json"})
    assert ok.status_code == 200 and ok.json()["boolean"] is True
    assert not any(_alive(pid) for pid in pids)
    assert all(w.process.pid not in pids for w in service._pool._all)


async def test_results_stop_at_the_row_cap_and_say_so(strict) -> None:  # noqa: ANN001
    client, _ = strict
    r = await client.get("/sparql", params={
        "query": "SELECT ?s WHERE { GRAPH <http://example.org/noise> { ?s ?p ?o } }", "format": "json"})
    assert r.status_code == 200
    assert len(r.json()["results"]["bindings"]) == 3
    assert r.headers["weblab-results-truncated"] == "true"
    small = await client.get("/sparql", params={"query": "SELECT (1 AS ?x) {}", "format": "json"})
    assert "weblab-results-truncated" not in small.headers


async def test_a_slow_update_is_refused_before_it_writes(strict, make_user, services) -> None:  # noqa: ANN001
    client, _ = strict
    _, token = await make_user("admin", roles={"admin"})
    update = ("INSERT { GRAPH <http://example.org/out> { ?a <http://example.org/q> ?d } } "
              "WHERE { GRAPH <http://example.org/noise> { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l } }")
    r = await client.post("/sparql", content=update, headers={
        "Content-Type": "application/sparql-update", "Authorization": f"Bearer {token}"})
    assert r.status_code == 503
    assert not services.store.has_graph(ox.NamedNode("http://example.org/out"))
    assert os.getpid()  # the test process (the server) is still here, and so is the endpoint:
    assert (await client.get("/sparql", params={"query": "ASK {}"})).status_code == 200


async def test_a_worker_killed_from_outside_is_replaced_without_failing_a_query(strict) -> None:  # noqa: ANN001
    client, service = strict
    # a query not asked before needs a worker: one replacing a worker killed by an earlier test is ready then
    assert (await client.get("/sparql", params={"query": "ASK {} # before the kill"})).status_code == 200
    (worker,) = service._pool._all
    worker.process.kill()
    await worker.process.wait()
    # a query not asked before: a repeated one would be answered from memory, without a worker
    r = await client.get("/sparql", params={"query": "ASK {} # first asked after the kill", "format": "json"})
    assert r.status_code == 200 and r.json()["boolean"] is True
    assert worker not in service._pool._all
