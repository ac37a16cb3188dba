"""What one SPARQL query, or one caller, may take of the server (security issue #16).

- Answers are capped in bytes as well as rows (``WEBLAB_SPARQL_MAX_BYTES``), inside the query worker, and a
  capped answer stays well-formed in every format and says it was truncated (``Weblab-Results-Truncated``).
- A query worker's memory is bounded (``WEBLAB_SPARQL_WORKER_MEMORY_MB``): a query that builds one value too
  large for it is answered 422 (not 500, not a hang), and the worker is replaced.
- One caller (API token user, session user, else the client address) runs at most
  ``WEBLAB_SPARQL_PER_CLIENT`` queries at a time: its runaway queries leave workers for everyone else.

Each case runs on a server of its own (``tests.servers``), with small limits.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pyoxigraph as ox
import pytest

from tests import servers

CAP = 1 << 20  # the byte cap of the servers here: 1 MiB


def chained_concat(rows: int, doublings: int, *, select: str = "?v") -> str:
    """A short query whose rows each carry a string of 11 × 2^doublings characters, built by CONCAT."""
    values = " ".join(str(i) for i in range(rows))
    binds = " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(doublings))
    where = (
        f'{{ VALUES ?i {{ {values} }} BIND(CONCAT("0123456789", STR(?i)) AS ?s0) {binds} '
        f'BIND(?s{doublings} AS ?v) BIND(IRI(CONCAT("http://example.org/row/", STR(?i))) AS ?row) }}'
    )
    if select == "CONSTRUCT":
        return f"CONSTRUCT {{ ?row <http://example.org/p> ?v }} WHERE {where}"
    return f"SELECT {select} WHERE {where}"


def runaway(k: int) -> str:
    """A query that counts 10^10 rows: it runs until its deadline (k makes each text different)."""
    values = " ".join(str(i) for i in range(100))
    return (
        "SELECT (COUNT(*) AS ?n) WHERE { "
        + " ".join(f"VALUES ?{v} {{ {values} }}" for v in "abcde")
        + f" FILTER(?a + ?b + ?c + ?d + ?e != -{k}) }}"
    )


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return out


def tree_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (the server and its query workers)."""
    children, total, todo = _children(), 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        todo += children.get(p, [])
    return total


class PeakRss:
    """Samples ``tree_rss(pid)`` every 20 ms on a thread while in the ``with`` block; ``peak`` is the largest."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def own_server(security_database: str, tmp_path: Path):  # noqa: ANN201 - a factory of context managers
    """``with own_server(SPARQL_MAX_BYTES="…") as (url, process):`` a server of this test's own."""
    import contextlib

    @contextlib.contextmanager
    def start(**overrides: str) -> Iterator[tuple[str, object]]:
        process, url, log = servers.start(
            security_database, tmp_path / f"server-{len(list(tmp_path.iterdir()))}", **overrides
        )
        try:
            servers.wait_until_up(url, process, log, 60)
            yield url, process
        finally:
            servers.stop(process)

    return start


def _rows(media: str, body: bytes) -> int:
    """Parse a SPARQL result body in ``media`` (failing on malformed ones); its number of rows."""
    if media == "application/sparql-results+json":
        return len(json.loads(body)["results"]["bindings"])
    if media == "application/sparql-results+xml":
        root = ElementTree.fromstring(body)
        return len(root.findall(".//{http://www.w3.org/2005/sparql-results#}result"))
    if media == "text/csv":
        table = list(csv.reader(io.StringIO(body.decode(), newline="")))
        assert table[0] == ["v"] and all(len(r) == 1 for r in table)
        return len(table) - 1
    assert media == "text/tab-separated-values"
    lines = body.decode().split("\n")
    assert lines[0] == "?v" and lines[-1] == "" and all(line.startswith('"') for line in lines[1:-1])
    return len(lines) - 2


async def test_byte_cap_truncates_a_chained_concat_in_every_format(own_server) -> None:  # noqa: ANN001
    # 1000 rows of 90 KB each: 90 MB uncapped, from a query of under 3 KB.
    query = chained_concat(1000, 13)
    with own_server(SPARQL_MAX_BYTES=str(CAP)) as (url, process):
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=60) as http:
            await http.get("/sparql", params={"query": "ASK {}"})  # the workers are up and warm
            before = tree_rss(process.pid)
            with PeakRss(process.pid) as rss:
                r = await http.post(
                    "/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"}
                )
            assert r.status_code == 200, r.text[:300]
            assert r.headers["weblab-results-truncated"] == "true"
            assert len(r.content) <= CAP
            assert _rows("application/sparql-results+json", r.content) >= 5
            # The server (web process and query workers) grew by a few times the cap, not by the answer.
            assert rss.peak - before < 48 * CAP, f"grew by {(rss.peak - before) >> 20} MiB"

            for media in ("application/sparql-results+xml", "text/csv", "text/tab-separated-values"):
                r = await http.post("/sparql", data={"query": query}, headers={"Accept": media})
                assert r.status_code == 200 and r.headers["content-type"].startswith(media), r.text[:300]
                assert r.headers["weblab-results-truncated"] == "true"
                assert len(r.content) <= CAP
                assert _rows(media, r.content) >= 5, media

            construct = chained_concat(1000, 13, select="CONSTRUCT")
            for media, fmt in [
                ("text/turtle", ox.RdfFormat.TURTLE),
                ("application/n-triples", ox.RdfFormat.N_TRIPLES),
                ("application/rdf+xml", ox.RdfFormat.RDF_XML),
                ("application/ld+json", ox.RdfFormat.JSON_LD),
                ("application/n-quads", ox.RdfFormat.N_QUADS),
                ("application/trig", ox.RdfFormat.TRIG),
            ]:
                r = await http.post("/sparql", data={"query": construct}, headers={"Accept": media})
                assert r.status_code == 200 and r.headers["content-type"].startswith(media), r.text[:300]
                assert r.headers["weblab-results-truncated"] == "true", media
                assert len(r.content) <= CAP, media
                triples = list(ox.parse(r.content, format=fmt))  # well-formed
                assert len(triples) >= 5, media

            # Under the cap nothing is cut, and the answer does not say it was.
            r = await http.post(
                "/sparql",
                data={"query": chained_concat(3, 4)},
                headers={"Accept": "application/sparql-results+json"},
            )
            assert r.status_code == 200 and "weblab-results-truncated" not in r.headers
            assert _rows("application/sparql-results+json", r.content) == 3


async def test_queries_too_large_for_the_worker_are_refused(own_server) -> None:  # noqa: ANN001
    # One row holding one literal of 11 × 2^25 characters (369 MB): the byte cap cannot help, since
    # Oxigraph builds the value before the worker sees it; the worker's memory limit stops it.
    query = chained_concat(1, 25, select="(STRLEN(?v) AS ?n)")
    with own_server(SPARQL_WORKER_MEMORY_MB="256", SPARQL_WORKERS="2") as (url, process):
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=60) as http:
            r = await http.get("/sparql", params={"query": query})
            assert r.status_code == 422, r.text[:300]
            error = r.json()["error"]
            assert error["code"] == "too_much_memory" and "256 MB" in error["message"]
            # Nested too deeply for the worker's stack (Oxigraph evaluates groups recursively): the same.
            nested = "SELECT * WHERE { " + "{" * 60000 + "}" * 60000 + " }"
            r = await http.post(
                "/sparql", content=nested, headers={"Content-Type": "application/sparql-query"}
            )
            assert r.status_code == 422 and r.json()["error"]["code"] == "too_much_memory", r.text[:300]
            # A long flat expression, which Oxigraph also evaluates recursively, still runs.
            flat = "SELECT (" + " + ".join(["1"] * 9000) + " AS ?n) {}"  # past what an 8 MiB stack takes
            r = await http.post(
                "/sparql",
                content=flat,
                headers={
                    "Content-Type": "application/sparql-query",
                    "Accept": "application/sparql-results+json",
                },
            )
            assert r.status_code == 200 and r.json()["results"]["bindings"][0]["n"]["value"] == "9000"
            # The worker was replaced: the endpoint still answers, on both workers.
            for _ in range(4):
                r = await http.get(
                    "/sparql",
                    params={"query": "ASK {}"},
                    headers={"Accept": "application/sparql-results+json"},
                )
                assert r.status_code == 200 and r.json()["boolean"] is True
            # Every worker of the pool is below its limit.
            children = _children().get(process.pid, [])
            assert children
            for child in children:
                assert tree_rss(child) < 256 << 20


async def test_runaway_queries_of_one_client_leave_workers_for_others(own_server, server_user) -> None:  # noqa: ANN001
    _, token = await server_user("limits")
    with own_server(SPARQL_WORKERS="4", SPARQL_PER_CLIENT="2", SPARQL_TIMEOUT="8") as (url, _):
        base = url.rstrip("/")
        async with httpx.AsyncClient(base_url=base, timeout=60) as anonymous:
            await anonymous.get("/sparql", params={"query": "ASK {}"})
            # Four runaway queries from one client (anonymous, this address): the pool has four workers.
            runaways = [
                asyncio.create_task(anonymous.get("/sparql", params={"query": runaway(k)})) for k in range(4)
            ]
            await asyncio.sleep(1.5)  # all four have reached the server
            assert not any(t.done() for t in runaways)

            # Other clients are answered while the runaway queries still run: a user with a token, an
            # anonymous client at another address, and the health check.
            async with httpx.AsyncClient(
                base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}
            ) as user:
                r = await user.get(
                    "/sparql",
                    params={"query": "ASK { ?s ?p ?o }"},
                    headers={"Accept": "application/sparql-results+json"},
                )
                assert r.status_code == 200, r.text[:300]
            transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(base_url=base, timeout=60, transport=transport) as other:
                r = await other.get(
                    "/sparql",
                    params={"query": "ASK { }"},
                    headers={"Accept": "application/sparql-results+json"},
                )
                assert r.status_code == 200 and r.json()["boolean"] is True
                r = await other.get("/healthz")
                assert r.status_code == 200
            assert not any(t.done() for t in runaways), "the other clients waited for a runaway query to end"

            # Past its queue, the same client is told to come back later, at once.
            r = await anonymous.get("/sparql", params={"query": runaway(9)})
            assert r.status_code == 429, r.text[:300]
            assert r.json()["error"]["code"] == "too_many_queries"
            assert 1 <= int(r.headers["retry-after"]) <= 8

            # The runaway queries end at their deadline (two at once, then the two that waited their turn).
            started = time.monotonic()
            answers = await asyncio.gather(*runaways)
            assert [a.status_code for a in answers] == [503] * 4, [a.text[:200] for a in answers]
            assert time.monotonic() - started < 30
