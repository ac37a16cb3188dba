"""The byte cap of answers (:func:`sparql.query_worker.serialize_result`) and the per-client limit
(:class:`sparql.limits.ClientLimiter`), without a server (the security suite replays both over HTTP)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from xml.etree import ElementTree

import pyoxigraph as ox
import pytest

from sparql import formats
from sparql.limits import ClientLimiter, TooManyQueries
from sparql.query_worker import serialize_result

STORE = ox.Store()
SELECT = (
    "SELECT ?i ?v WHERE { VALUES ?i { "
    + " ".join(map(str, range(200)))
    + ' } BIND(CONCAT(STR(?i), "-é\\"<&>,\\t", STR(?i)) AS ?v) }'
)
CONSTRUCT = (
    "CONSTRUCT { ?s <http://example.org/p> ?v } WHERE { VALUES ?i { "
    + " ".join(map(str, range(200)))
    + ' } BIND(IRI(CONCAT("http://example.org/s", STR(?i))) AS ?s) BIND(CONCAT("v<&>\\"", STR(?i)) AS ?v) }'
)


def _count(fmt: formats.Format, body: bytes) -> int:
    if fmt is formats.SPARQL_JSON:
        return len(json.loads(body)["results"]["bindings"])
    if fmt is formats.SPARQL_XML:
        return len(ElementTree.fromstring(body).findall(".//{http://www.w3.org/2005/sparql-results#}result"))
    if fmt is formats.SPARQL_CSV:
        rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
        assert rows[0] == ["i", "v"] and all(len(r) == 2 for r in rows)
        return len(rows) - 1
    lines = body.decode().split("\n")
    assert lines[0] == "?i\t?v" and lines[-1] == "" and all(line.count("\t") == 1 for line in lines[1:-1])
    return len(lines) - 2


@pytest.mark.parametrize("fmt", formats.SOLUTION_FORMATS, ids=lambda f: f.name)
def test_solutions_stop_at_the_byte_cap_and_stay_well_formed(fmt: formats.Format) -> None:
    header, whole = serialize_result(STORE.query(SELECT), fmt, 10_000)
    assert header["truncated"] is False and _count(fmt, whole) == 200
    for cap in (len(whole) // 3, len(whole) - 1, 1):
        header, body = serialize_result(STORE.query(SELECT), fmt, 10_000, max_bytes=cap)
        assert header["truncated"] is True
        assert len(body) <= max(cap, 300)  # an empty document's head and tail always fit
        rows = _count(fmt, body)
        assert rows < 200 and (cap == 1 or rows > 0)
        tail = formats.SolutionWriter(["i", "v"], fmt).tail
        assert body.endswith(tail) and whole.startswith(body[: len(body) - len(tail)])  # whole rows, in order
    header, body = serialize_result(STORE.query(SELECT), fmt, 10_000, max_bytes=len(whole))
    assert header["truncated"] is False and body == whole  # exactly the cap: nothing left out


@pytest.mark.parametrize("fmt", formats.GRAPH_FORMATS, ids=lambda f: f.name)
def test_triples_stop_at_the_byte_cap_and_stay_well_formed(fmt: formats.Format) -> None:
    header, whole = serialize_result(STORE.query(CONSTRUCT), fmt, 10_000)
    assert header["truncated"] is False and len(list(ox.parse(whole, format=formats.rdf_format(fmt)))) == 200
    cap = len(whole) // 3
    header, body = serialize_result(STORE.query(CONSTRUCT), fmt, 10_000, max_bytes=cap)
    assert header["truncated"] is True and len(body) <= cap
    assert 0 < len(list(ox.parse(body, format=formats.rdf_format(fmt)))) < 200


def test_the_row_cap_still_applies() -> None:
    header, body = serialize_result(STORE.query(SELECT), formats.SPARQL_JSON, 7, max_bytes=1 << 20)
    assert header["truncated"] is True and _count(formats.SPARQL_JSON, body) == 7


async def test_a_client_waits_for_its_own_slots_in_order() -> None:
    limiter = ClientLimiter(per_client=1, queue=2)
    deadline = time.monotonic() + 5
    first = await limiter.acquire("a", deadline)
    order: list[int] = []

    async def later(n: int) -> None:
        slot = await limiter.acquire("a", deadline)
        order.append(n)
        limiter.release(slot)

    waiting = [asyncio.create_task(later(n)) for n in (1, 2)]
    await asyncio.sleep(0.01)
    with pytest.raises(TooManyQueries) as refused:  # one running, two waiting: the queue is full
        await limiter.acquire("a", deadline)
    assert 1 <= refused.value.retry_after <= 5
    assert await limiter.acquire("b", deadline) is not None  # another client is not held up
    assert order == []
    limiter.release(first)
    await asyncio.gather(*waiting)
    assert order == [1, 2] and limiter.running("a") == 0


async def test_a_wait_ends_at_the_deadline_and_a_cancelled_wait_gives_its_place_up() -> None:
    limiter = ClientLimiter(per_client=1)
    held = await limiter.acquire("a", time.monotonic() + 5)
    with pytest.raises(TimeoutError):
        await limiter.acquire("a", time.monotonic() + 0.05)
    task = asyncio.create_task(limiter.acquire("a", time.monotonic() + 5))
    await asyncio.sleep(0.01)
    task.cancel()
    limiter.release(held)  # the cancelled waiter is skipped; nothing is left held
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.running("a") == 0 and limiter._clients == {}
    assert await limiter.acquire(None, 0) is None  # no client: no limit
    assert await ClientLimiter(0).acquire("a", 0) is None  # 0: no limit
