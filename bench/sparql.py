"""Our /sparql against ``oxigraph serve-read-only`` on the same data, 8 concurrent clients.

    .venv/bin/python bench/sparql.py [--models 2000] [--seconds 6] [--rounds 3] [--clients 8] [--private 0] [--cache-mb 64]

Builds a store of public models (entity graph + 3 version graphs each, written the
way the platform writes them), then runs the same query mix — point lookups,
1-hop joins, a VALUES batch, a COUNT aggregate and a CONSTRUCT — first through
Oxigraph's own server (``serve-read-only --union-default-graph``, the same
semantics as our anonymous default graph), then through Weblab's full app
(``web.app.create_app``: auth and logging middleware, visibility scope,
killable query workers). The two servers run one after the other, never
together. Prints both throughputs, p50/p99 latencies and the ratio, and each
server's CPU time per request (its process and its children, from /proc):
on a machine shared with other work, throughput follows the CPU share the
bench happens to get, while CPU per request says what each server costs.

``--cache-mb 0`` turns off the endpoint's cache of answers to repeated queries
(``WEBLAB_SPARQL_CACHE_MB``; Oxigraph's server has none): in this mix the
COUNT is the same query every time and point lookups repeat now and then.

``--private N`` makes N models private, so that anonymous queries take the
slow path (an explicit list of visible graphs instead of the union).

Needs PostgreSQL and Redis for the app (``WEBLAB_DATABASE_URL``,
``WEBLAB_REDIS_URL``; defaults: the local test servers).
"""

# ruff: noqa: E402 - the import path is fixed first, see below
from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds modules named like the standard library's (queue.py): keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

import httpx
import pyoxigraph as ox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparql.store import TripleStore  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.sparql.oxigraph_server import oxigraph_server  # noqa: E402

BASE = "http://localhost:8000/"
WEBLAB = "https://w3id.org/weblab/ns#"
DCTERMS = "http://purl.org/dc/terms/"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PREFIXES = f"PREFIX weblab: <{WEBLAB}>\nPREFIX dcterms: <{DCTERMS}>\n"


def build(store_dir: Path, models: int, private: int) -> None:
    store = TripleStore(store_dir)
    rng = random.Random(1)
    for m in range(models):
        entity = ox.NamedNode(f"{BASE}models/m{m}")
        owner = ox.NamedNode(f"{BASE}users/u{m % 50}")
        store.replace_graph(
            entity,
            [
                ox.Triple(entity, RDF_TYPE, ox.NamedNode(WEBLAB + "Model")),
                ox.Triple(entity, ox.NamedNode(DCTERMS + "title"), ox.Literal(f"model {m}")),
                ox.Triple(entity, ox.NamedNode(WEBLAB + "owner"), owner),
            ],
        )
        for v in range(3):
            version = ox.NamedNode(f"{BASE}models/m{m}/versions/{v:040x}")
            visibility = "private" if m < private else "public"
            triples = [
                ox.Triple(version, RDF_TYPE, ox.NamedNode(WEBLAB + "ModelVersion")),
                ox.Triple(version, ox.NamedNode(DCTERMS + "isVersionOf"), entity),
                ox.Triple(entity, ox.NamedNode(DCTERMS + "hasVersion"), version),
                ox.Triple(version, ox.NamedNode(DCTERMS + "title"), ox.Literal(f"model {m} version {v}")),
                ox.Triple(version, ox.NamedNode(WEBLAB + "visibility"), ox.NamedNode(WEBLAB + visibility)),
                ox.Triple(
                    version,
                    ox.NamedNode(DCTERMS + "created"),
                    ox.Literal(
                        f"2024-01-{1 + v:02d}T00:00:00Z",
                        datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#dateTime"),
                    ),
                ),
            ]
            triples += [
                ox.Triple(
                    version,
                    ox.NamedNode(WEBLAB + "annotates"),
                    ox.NamedNode(f"https://example.org/oxmeta#term{rng.randrange(60)}"),
                )
                for _ in range(4)
            ]
            store.replace_graph(version, triples)
    store.close()


def query_mix(models: int, rng: random.Random) -> tuple[str, str]:
    """One (kind, query) from the mix, with random ids."""
    m = rng.randrange(models)
    kind = rng.choice(["point", "join", "values", "count", "construct"])
    if kind == "point":
        return kind, f"SELECT ?p ?o WHERE {{ <{BASE}models/m{m}> ?p ?o }}"
    if kind == "join":
        return (
            kind,
            PREFIXES
            + f"SELECT ?v ?title WHERE {{ ?v dcterms:isVersionOf <{BASE}models/m{m}> ; dcterms:title ?title }}",
        )
    if kind == "values":
        ids = " ".join(f"<{BASE}models/m{rng.randrange(models)}>" for _ in range(20))
        return kind, PREFIXES + f"SELECT ?m ?title WHERE {{ VALUES ?m {{ {ids} }} ?m dcterms:title ?title }}"
    if kind == "count":
        return kind, PREFIXES + "SELECT (COUNT(?v) AS ?n) WHERE { ?v a weblab:ModelVersion }"
    version = f"{BASE}models/m{m}/versions/{rng.randrange(3):040x}"
    return kind, f"CONSTRUCT {{ <{version}> ?p ?o }} WHERE {{ <{version}> ?p ?o }}"


def _process_tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *[p for child in children for p in _process_tree(int(child))]]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of ``pid`` and its live descendants (0 where /proc cannot tell)."""
    if pid is None:
        return 0.0
    total = 0
    for p in _process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pid_running(marker: str) -> int | None:
    """The process whose command line mentions ``marker`` (the Oxigraph server, started by a helper)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    return int(entry.name)
            except OSError:
                continue
    return None


async def load(
    url: str,
    models: int,
    clients: int,
    seconds: float,
    warmup: float = 2.0,
    server_pid: int | None = None,
    seed: int = 0,
) -> dict:
    """``clients`` concurrent loops POSTing queries for ``seconds``; latencies of successful answers.

    Each round (``seed``) draws new queries, the same for both servers: a round must not replay the
    queries of an earlier one, which the endpoint's answer cache would then answer from memory.
    """
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + warmup + seconds
    measure_from = time.monotonic() + warmup

    async def client(n: int) -> None:
        nonlocal errors
        rng = random.Random(seed * 1000 + n)
        # each client from a loopback address of its own: they are separate callers, and the endpoint
        # limits how many queries one caller runs at a time (WEBLAB_SPARQL_PER_CLIENT)
        transport = httpx.AsyncHTTPTransport(local_address=f"127.0.0.{n + 2}")
        async with httpx.AsyncClient(timeout=60, transport=transport) as http:
            while (now := time.monotonic()) < stop_at:
                kind, query = query_mix(models, rng)
                accept = "application/n-triples" if kind == "construct" else "application/sparql-results+json"
                started = time.monotonic()
                r = await http.post(
                    url, content=query, headers={"Content-Type": "application/sparql-query", "Accept": accept}
                )
                took = time.monotonic() - started
                if r.status_code != 200:
                    if not errors:
                        print(f"first error from {url}: {r.status_code} {r.text[:300]}", file=sys.stderr)
                    errors += 1
                elif now >= measure_from:
                    latencies.append(took)

    async def measured() -> float:
        await asyncio.sleep(max(0.0, measure_from - time.monotonic()))
        return cpu_seconds(server_pid)

    cpu_task = asyncio.ensure_future(measured())
    await asyncio.gather(*(client(n) for n in range(clients)))
    cpu = cpu_seconds(server_pid) - await cpu_task
    latencies.sort()
    return {
        "requests": len(latencies),
        "throughput": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
        "cpu_ms": 1000 * cpu / max(1, len(latencies)),
    }


async def ceiling(url: str, clients: int, seconds: float) -> float:
    """Requests per second the same app serves for a static route: the front end's own limit."""
    count = 0
    stop_at = time.monotonic() + seconds

    async def client() -> None:
        nonlocal count
        async with httpx.AsyncClient(timeout=60) as http:
            while time.monotonic() < stop_at:
                await http.get(url)
                count += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return count / seconds


def serve_weblab(data_dir: Path, port: int, cache_mb: int = 64) -> subprocess.Popen:
    env = dict(
        os.environ,
        WEBLAB_DATA_DIR=str(data_dir),
        WEBLAB_BASE_URI=BASE,
        WEBLAB_IMPORT_DEMO="false",
        WEBLAB_DATABASE_URL=os.environ.get(
            "WEBLAB_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        WEBLAB_REDIS_URL=os.environ.get("WEBLAB_REDIS_URL", "redis://127.0.0.1:6379/0"),
        WEBLAB_QUEUE_NAME=f"weblab-bench:{port}",
        WEBLAB_SECRET_KEY="bench",
        PYTHONPATH=str(ROOT),
        WEBLAB_SPARQL_CACHE_MB=str(cache_mb),
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.sparql.w3c_server:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


def wait_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, params={"query": "ASK {}"}, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Weblab server did not start")
        time.sleep(0.2)


def report(name: str, r: dict) -> None:
    print(
        f"{name:10s} {r['throughput']:8.1f} q/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
        f"server CPU {r['cpu_ms']:5.2f} ms/request   ({int(r['requests'])} requests, {int(r['errors'])} errors)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--private", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cache-mb", type=int, default=64, help="the endpoint's answer cache (0: off)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="weblab-bench-"))
    oxigraph_dir = work / "oxigraph-copy"
    try:
        started = time.monotonic()
        build(work / "store", args.models, args.private)
        shutil.copytree(
            work / "store", oxigraph_dir
        )  # the same data, but its own files: both may run at once
        print(f"built {args.models} models ({args.private} private) in {time.monotonic() - started:.1f} s")
        port = free_port()
        process = serve_weblab(work, port, args.cache_mb)
        weblab_url = f"http://127.0.0.1:{port}/sparql"
        try:
            wait_up(weblab_url, process)
            with oxigraph_server(oxigraph_dir, read_only=True, extra=("--union-default-graph",)) as url:
                oxigraph_pid = pid_running(str(oxigraph_dir))
                # Rounds alternate between the servers (only one is loaded at a time), so that
                # changes in the machine's load affect both alike; medians are reported.
                rounds: dict[str, list[dict]] = {"oxigraph": [], "weblab": []}
                for n in range(args.rounds):
                    rounds["oxigraph"].append(
                        asyncio.run(
                            load(
                                url + "/query",
                                args.models,
                                args.clients,
                                args.seconds,
                                server_pid=oxigraph_pid,
                                seed=n,
                            )
                        )
                    )
                    rounds["weblab"].append(
                        asyncio.run(
                            load(
                                weblab_url,
                                args.models,
                                args.clients,
                                args.seconds,
                                server_pid=process.pid,
                                seed=n,
                            )
                        )
                    )
            static = asyncio.run(
                ceiling(f"http://127.0.0.1:{port}/ns/context.jsonld", args.clients, args.seconds)
            )
        finally:
            process.terminate()
            process.wait(10)
        medians = {}
        for name, results in rounds.items():
            medians[name] = {key: statistics.median(r[key] for r in results) for key in results[0]}
            report(name, medians[name])
        ratios = [
            w["throughput"] / o["throughput"]
            for o, w in zip(rounds["oxigraph"], rounds["weblab"], strict=True)
        ]
        print(f"weblab app, static JSON route (front-end ceiling): {static:.1f} req/s")
        print(
            f"ratio (weblab / oxigraph throughput): median {statistics.median(ratios):.2f} "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        )
        cost = [o["cpu_ms"] / w["cpu_ms"] for o, w in zip(rounds["oxigraph"], rounds["weblab"], strict=True)]
        print(
            f"ratio (oxigraph / weblab server CPU per request): median {statistics.median(cost):.2f} "
            f"(rounds: {', '.join(f'{r:.2f}' for r in cost)}); load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
