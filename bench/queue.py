"""Benchmark: queue overhead of the run pipeline, with 1 and with 2 worker processes.

    .venv/bin/python bench/queue.py [--runs 200] [--workers 1 2]

N trivial runs (a stand-in protocol that does nothing: the child process
starts, writes two tiny outputs and exits) go through the whole pipeline:
row + arq job → worker claims over HTTP → downloads both archives → engine
child process → result archive posted to the callback → run graph written →
SUCCESS. Reports runs per second (N / (last finish − first enqueue)), the
median and 90th-percentile latency from enqueue to SUCCESS (all N are queued
at once, so this is mostly time spent waiting in the queue), and the latency of
a run queued alone on idle workers (the pipeline's own overhead).

Needs the real PostgreSQL (``WEBLAB_TEST_DATABASE_URL``, default the local
``test`` database; a scratch database is created and dropped) and Redis
(``WEBLAB_TEST_REDIS_URL``). :class:`Platform` is the harness ``bench/scaling.py``
uses too: the app served by uvicorn on a free port, real ``weblab worker``
processes reaching it over HTTP with the shared secret.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # this file is named queue.py: never let it shadow the standard library's queue
else:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
import uvicorn  # noqa: E402

from resolvers import accounts, runs  # noqa: E402
from resolvers.entities import Entities  # noqa: E402
from resolvers.metadata import Kind  # noqa: E402
from resolvers.services import Services  # noqa: E402
from resolvers.settings import Settings  # noqa: E402
from resolvers.uploads import Upload  # noqa: E402
from web.app import create_app  # noqa: E402
from web.services import start_services  # noqa: E402

ADMIN_URL = os.environ.get("WEBLAB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WEBLAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHARED = Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
STANDIN = "tests.runs.standin_engine"
IDLE_RUNS = 5


class Platform:
    """A whole platform for one benchmark: scratch database, own queue, served app, worker processes."""

    def __init__(self, engine: str | None = None, jobs_per_worker: int | None = None) -> None:
        self.engine = engine
        self.jobs_per_worker = jobs_per_worker
        self.db_name = f"weblab_bench_{secrets.token_hex(4)}"
        self.tmp = tempfile.TemporaryDirectory(prefix="weblab-bench-")
        self.workers: list[subprocess.Popen[bytes]] = []

    async def __aenter__(self) -> Platform:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        base, _, query = ADMIN_URL.partition("?")
        url = base.rsplit("/", 1)[0] + "/" + self.db_name + (f"?{query}" if query else "")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.server_url = f"http://127.0.0.1:{port}"
        self.settings = Settings(
            data_dir=Path(self.tmp.name) / "data",
            database_url=url,
            redis_url=REDIS_URL,
            queue_name=f"weblab-bench:{secrets.token_hex(3)}",
            secret_key=secrets.token_hex(16),
            import_demo=False,
            server_url=self.server_url,
        )
        self.services: Services = await start_services(self.settings)
        from ontology.graphs import load_ontologies

        load_ontologies(self.services.store, self.settings.base_uri)  # what compatibility reads terms through
        app = create_app(self.settings, self.services, in_process_worker=False)
        app.state.run_engine = self.engine
        self.server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
            )
        )
        self.server_task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.05)
        self.user = await accounts.create_user(
            self.services.db, "bench", "bench@example.org", "bench password"
        )
        self.entities = Entities.from_services(self.services)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop_workers()
        self.server.should_exit = True
        await self.server_task
        redis = self.services.redis
        keys = [k async for k in redis.scan_iter(match=self.settings.queue_name + "*")]
        if keys:
            await redis.delete(*keys)
        await self.services.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self.tmp.cleanup()

    def start_workers(self, n: int) -> None:
        env = {
            **os.environ,
            "WEBLAB_REDIS_URL": REDIS_URL,
            "WEBLAB_QUEUE_NAME": self.settings.queue_name,
            "WEBLAB_SECRET_KEY": self.settings.signing_key,
            "WEBLAB_SERVER_URL": self.server_url,
            "WEBLAB_DATA_DIR": str(Path(self.tmp.name) / "worker"),
            "WEBLAB_LOG_LEVEL": "WARNING",
        }
        jobs = self.jobs_per_worker
        code = (
            "from worker.queue import make_worker; import os; "
            f"make_worker(os.environ['WEBLAB_REDIS_URL'], os.environ['WEBLAB_QUEUE_NAME'], max_jobs={jobs!r}).run()"
        )
        for _ in range(n):
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", code],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers = []

    async def workers_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker has written arq's health-check key once (they are polling the queue)."""
        from worker.contract import health_check_key

        deadline = time.monotonic() + timeout
        while not await self.services.redis.exists(health_check_key(self.settings.queue_name)):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the others start at about the same time

    async def publish(self, kind: Kind, name: str, filename: str, data: bytes) -> str:
        _, version = await self.entities.publish(
            self.user, kind, name, [Upload(filename, data)], main=filename
        )
        return version.uri

    async def wait_all(self, ids: list[str], timeout: float) -> list[runs.Run]:
        deadline = time.monotonic() + timeout
        while True:
            async with self.services.db.connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM runs WHERE id = ANY(%s::uuid[]) AND status IN"
                    " ('QUEUED', 'RUNNING')",
                    (ids,),
                )
                row = await cur.fetchone()
            if row is not None and row[0] == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{row[0] if row else '?'} runs still unfinished after {timeout:.0f} s")
            await asyncio.sleep(0.2)
        return [await runs.get_run(self.services.db, i) for i in ids]


def summarise(done: list[runs.Run]) -> dict[str, Any]:
    latencies = sorted((r.finished_at - r.queued_at).total_seconds() for r in done if r.finished_at)
    span = (
        max(r.finished_at for r in done if r.finished_at) - min(r.queued_at for r in done)
    ).total_seconds()
    statuses: dict[str, int] = {}
    for r in done:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "runs": len(done),
        "statuses": statuses,
        "wall_s": span,
        "runs_per_s": len(done) / span,
        "median_latency_s": statistics.median(latencies),
        "p90_latency_s": latencies[int(0.9 * (len(latencies) - 1))],
    }


async def measure(n_runs: int, n_workers: int, jobs_per_worker: int | None) -> dict[str, Any]:
    from tests.runs.standin_engine import protocol_text

    async with Platform(engine=STANDIN, jobs_per_worker=jobs_per_worker) as platform:
        model_file = SHARED / "cellml" / "beeler_reuter_model_1977.cellml"
        model = await platform.publish(Kind.MODEL, "BR", model_file.name, model_file.read_bytes())
        protocols = [
            await platform.publish(
                Kind.PROTOCOL, f"trivial {i}", "p.txt", protocol_text(seconds=0, steps=1, nonce=i).encode()
            )
            for i in range(n_runs + IDLE_RUNS)
        ]
        platform.start_workers(n_workers)
        await platform.workers_ready()
        ids = [
            (await runs.create_run(platform.services, model, p, queue="bulk")).id for p in protocols[:n_runs]
        ]
        done = await platform.wait_all(ids, timeout=60 + 5 * n_runs)
        result = summarise(done)
        alone = []  # one run at a time on idle workers: the pipeline's own latency, without queueing
        for p in protocols[n_runs:]:
            run = await runs.create_run(platform.services, model, p, queue="interactive")
            [finished] = await platform.wait_all([run.id], timeout=60)
            if finished.finished_at:
                alone.append((finished.finished_at - finished.queued_at).total_seconds())
        result["idle_latency_s"] = statistics.median(alone) if alone else float("nan")
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--jobs-per-worker",
        type=int,
        default=None,
        help="concurrent jobs per worker process (default: the CPU count, as `weblab worker`)",
    )
    args = parser.parse_args()
    print(
        f"{args.runs} trivial runs; jobs per worker: {args.jobs_per_worker or os.cpu_count()}; "
        f"{os.cpu_count()} CPUs"
    )
    for n in args.workers:
        result = asyncio.run(measure(args.runs, n, args.jobs_per_worker))
        print(
            f"{n} worker process(es): {result['runs_per_s']:.2f} runs/s over {result['wall_s']:.1f} s; "
            f"latency enqueue→final median {result['median_latency_s']:.2f} s, p90 {result['p90_latency_s']:.2f} s; "
            f"{result['statuses']}; one run alone on an idle worker: {result['idle_latency_s']:.2f} s (median of "
            f"{IDLE_RUNS})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
