"""sparql.pool: query workers that answer, are replaced when killed at a deadline, and die with their parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pyoxigraph as ox
import pytest
import pytest_asyncio

from sparql.pool import QueryPool, QueryTimeout

ROOT = Path(__file__).resolve().parents[2]
EX = "http://example.org/"
# A billion solutions to count: minutes of Oxigraph's time, which only a kill stops.
SLOW = "SELECT (COUNT(*) AS ?n) { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def _job(query: str) -> dict[str, object]:
    return {"query": query, "format": "json", "max_rows": 10, "generation": 0}


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    store = ox.Store(str(path))
    store.extend(
        ox.Quad(ox.NamedNode(f"{EX}s{i}"), ox.NamedNode(f"{EX}p"), ox.Literal(i), ox.DefaultGraph())
        for i in range(1000)
    )
    store.flush()
    del store
    return path


@pytest_asyncio.fixture
async def pool(store_dir: Path) -> AsyncIterator[QueryPool]:
    started = QueryPool({"main": store_dir}, size=2)
    await started.start()
    try:
        yield started
    finally:
        await started.close()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_job_is_answered_and_the_workers_are_listed(pool: QueryPool) -> None:
    answer = await pool.run(_job("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"), timeout=30)
    assert answer.header["status"] == 200
    assert b'"1000"' in answer.body
    assert len(pool.live_pids) == 2 and pool.idle_count == 2


async def test_a_query_past_its_deadline_kills_its_worker_and_a_new_one_takes_its_place(
    pool: QueryPool,
) -> None:
    before = pool.live_pids
    with pytest.raises(QueryTimeout, match="within the 0.5 s limit"):
        await pool.run(_job(SLOW), timeout=0.5)
    deadline = time.monotonic() + 20
    while pool.idle_count < 2 or len(pool.live_pids) < 2:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        await asyncio.sleep(0.05)
    after = pool.live_pids
    assert len(before - after) == 1 and len(after - before) == 1
    assert not any(_alive(pid) for pid in before - after)


PARENT = """
import asyncio, sys
from pathlib import Path
from sparql.pool import QueryPool

async def main() -> None:
    pool = QueryPool({"main": Path(sys.argv[1])}, size=1)
    await pool.start()
    (pid,) = pool.live_pids
    print(pid, flush=True)
    await pool.run({"query": sys.argv[2], "format": "json", "max_rows": 10, "generation": 0}, timeout=600)

asyncio.run(main())
"""


def test_a_worker_busy_with_a_query_dies_with_its_parent(store_dir: Path) -> None:
    """A SIGKILLed parent closes the worker's stdin, but a worker deep in a query does not read it until the
    query ends; the kernel kills it instead (PR_SET_PDEATHSIG)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(store_dir), SLOW],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    pid = 0
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        idle = _cpu_seconds(pid)
        deadline = time.monotonic() + 30
        # the query is under way: the worker has computed for longer than its start-up takes
        while _cpu_seconds(pid) < idle + 1.0:
            assert time.monotonic() < deadline, "the query worker never started on the query"
            time.sleep(0.02)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(pid):
            assert time.monotonic() < deadline, "the query worker outlived its parent"
            time.sleep(0.05)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if pid and _alive(pid):  # an orphan left by a failure
            os.kill(pid, signal.SIGKILL)
