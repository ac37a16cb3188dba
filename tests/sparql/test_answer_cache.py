"""Answers to repeated queries are kept until the store changes (sparql.answer_cache).

What a user notices: a popular query is answered even while every worker is busy,
a write shows in the very next answer, and a query asking for fresh values
(``STRUUID()``, ``RAND()``) gets fresh ones each time. That the owner's kept
answers never reach anyone else is tested with the other leaks in test_visibility.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pyoxigraph as ox
import pytest_asyncio

from resolvers import permissions
from sparql import registry
from sparql.service import SparqlService
from tests.apps import app_client
from tests.sparql.conftest import BASE
from tests.sparql.test_deadline import SLOW, workers_until

GRAPH = ox.NamedNode("http://example.org/kept")
PREDICATE = ox.NamedNode("http://example.org/colour")
QUERY = "SELECT ?o WHERE { GRAPH <http://example.org/kept> { ?s <http://example.org/colour> ?o } }"


@pytest_asyncio.fixture(scope="module")
async def one_worker(settings, services) -> AsyncIterator[tuple[httpx.AsyncClient, SparqlService]]:  # noqa: ANN001
    """An endpoint with one worker and a 2 s deadline, over a graph with one colour in it."""
    services.store.replace_graph(
        GRAPH, [ox.Triple(ox.NamedNode("http://example.org/s"), PREDICATE, ox.Literal("red"))]
    )
    registry.register(services.store, [GRAPH.value])  # an admin's graph: public

    async def scope(user):  # noqa: ANN001, ANN202
        return await permissions.visible_graphs(services, user)

    service = SparqlService(services.store, base_uri=BASE, graph_scope=scope, timeout=2.0, pool_size=1)
    async with app_client(settings, services, sparql=service) as client:
        yield client, service
    services.store.drop_graph(GRAPH)


async def _values(client: httpx.AsyncClient, query: str) -> list[str]:
    r = await client.get("/sparql", params={"query": query, "format": "json"})
    assert r.status_code == 200, r.text
    return [next(iter(b.values()))["value"] for b in r.json()["results"]["bindings"]]


async def test_a_repeated_query_is_answered_while_the_only_worker_is_busy(one_worker) -> None:  # noqa: ANN001
    client, service = one_worker
    assert await _values(client, QUERY) == ["red"]
    slow = asyncio.ensure_future(client.get("/sparql", params={"query": SLOW}))
    # the slow query holds the only worker now, until its deadline kills it
    await workers_until(service, lambda w: len(w.pids) == 1 and w.idle == 0 and not slow.done(), timeout=1.5)
    assert await _values(client, QUERY) == ["red"]
    assert not slow.done(), "the repeated query waited for the worker instead of being answered at once"
    assert (await slow).status_code == 503


async def test_a_write_shows_in_the_next_answer(one_worker, services) -> None:  # noqa: ANN001
    client, _ = one_worker
    assert await _values(client, QUERY) == ["red"]
    services.store.replace_graph(
        GRAPH, [ox.Triple(ox.NamedNode("http://example.org/s"), PREDICATE, ox.Literal("blue"))]
    )
    assert await _values(client, QUERY) == ["blue"]
    services.store.replace_graph(
        GRAPH, [ox.Triple(ox.NamedNode("http://example.org/s"), PREDICATE, ox.Literal("red"))]
    )
    assert await _values(client, QUERY) == ["red"]


async def test_fresh_values_are_fresh_every_time(one_worker) -> None:  # noqa: ANN001
    client, _ = one_worker
    for query in (
        "SELECT (STRUUID() AS ?u) {}",
        "SELECT (RAND() AS ?r) {}",
        "SELECT ?b WHERE { BIND(BNODE() AS ?b) } # a comment that mentions no function",
    ):
        first, second = await _values(client, query), await _values(client, query)
        assert first != second, query
