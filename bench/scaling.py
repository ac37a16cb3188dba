"""Benchmark: standard protocols on real models through the whole pipeline, with 1 and with 2 worker processes.

    .venv/bin/python bench/scaling.py [--models 3] [--protocols GraphState S1S2] [--workers 1 2] [--jobs-per-worker 1]

Publishes the first N models (smallest first) of ``fc/models/real`` that have
reference S1S2 results and the named standard protocols of
``fc/protocols/real``, queues every experiment, and times the batch from the
first enqueue to the last final status with each worker count. By default
each worker process runs one job at a time, so that "1 vs 2 worker
processes" means 1 vs 2 engines at once (``weblab worker`` itself runs as
many jobs as there are CPUs). Also checks the pipeline against the
reference: APD90 of S1S2 read back by one SPARQL query over the run graphs,
compared with ``fc/reference/<model>/S1S2/outputs_APD90.csv`` with the
reproducibility tolerance of the data README.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path[0] = str(ROOT)  # bench/queue.py must not shadow the standard library's queue
else:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench.queue import SHARED, Platform, summarise  # noqa: E402
from resolvers import runs  # noqa: E402
from resolvers.metadata import Kind  # noqa: E402

APD_QUERY = """
PREFIX weblab: <https://w3id.org/weblab/ns#>
PREFIX prov: <http://www.w3.org/ns/prov#>
SELECT ?model ?apd WHERE {
  GRAPH ?e { ?e weblab:latestRun ?run ; weblab:model ?model }
  GRAPH ?run { ?run prov:generated ?o . ?o weblab:name "APD90" ; weblab:values ?apd }
}"""


def models(n: int) -> list[Path]:
    real = SHARED / "fc" / "models" / "real"
    have = [p for p in real.glob("*.cellml") if (SHARED / "fc" / "reference" / p.stem / "S1S2").is_dir()]
    return sorted(have, key=lambda p: p.stat().st_size)[:n]


def reference_apd(model: str) -> np.ndarray:
    lines = (SHARED / "fc" / "reference" / model / "S1S2" / "outputs_APD90.csv").read_text().splitlines()
    numbers = [
        float(x) for line in lines if line.strip() and not line.startswith("#") for x in line.split(",")
    ]
    return np.array(
        numbers[2:] if len(numbers) > 2 and numbers[0] == 1 and numbers[1] == len(numbers) - 2 else numbers
    )


async def measure(
    model_files: list[Path], protocol_names: list[str], n_workers: int, jobs: int
) -> dict[str, Any]:
    async with Platform(engine=None, jobs_per_worker=jobs) as platform:
        by_uri: dict[str, str] = {}
        for path in model_files:
            uri = await platform.publish(Kind.MODEL, path.stem, path.name, path.read_bytes())
            by_uri[uri] = path.stem
        protocols = []
        for name in protocol_names:
            path = SHARED / "fc" / "protocols" / "real" / f"{name}.txt"
            protocols.append(await platform.publish(Kind.PROTOCOL, name, path.name, path.read_bytes()))
        platform.start_workers(n_workers)
        await platform.workers_ready()
        ids = [
            (await runs.create_run(platform.services, m, p, queue="bulk")).id
            for m in by_uri
            for p in protocols
        ]
        done = await platform.wait_all(ids, timeout=1800)
        result = summarise(done)
        names = {**by_uri, **dict(zip(protocols, protocol_names, strict=True))}
        result["errors"] = [
            f"{names[r.model_version_uri]} × {names[r.protocol_version_uri]}: {r.status}: {r.error}"
            for r in done
            if r.status != "SUCCESS"
        ]
        checks = []
        for row in platform.services.store.query(APD_QUERY):
            model = by_uri.get(row["model"].value)
            if model is None:
                continue
            actual = np.array([float(x) for x in row["apd"].value.split()])
            expected = reference_apd(model)
            ok = actual.shape == expected.shape and bool(
                np.allclose(actual, expected, rtol=0.005, atol=2.5e-4)
            )
            checks.append((model, ok))
        result["apd_checks"] = checks
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--protocols", nargs="+", default=["GraphState", "S1S2"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs-per-worker", type=int, default=1)
    args = parser.parse_args()
    chosen = models(args.models)
    print(
        f"{len(chosen)} models × {len(args.protocols)} protocols ({', '.join(args.protocols)}); "
        f"{args.jobs_per_worker} job(s) per worker; {os.cpu_count()} CPUs"
    )
    walls = {}
    for n in args.workers:
        result = asyncio.run(measure(chosen, args.protocols, n, args.jobs_per_worker))
        walls[n] = result["wall_s"]
        print(
            f"{n} worker process(es): wall {result['wall_s']:.1f} s, median run latency "
            f"{result['median_latency_s']:.1f} s; {result['statuses']}; APD90 vs reference: {result['apd_checks']}"
        )
        for error in result["errors"]:
            print("   ", (error or "").splitlines()[0][:200])
    if 1 in walls and 2 in walls:
        print(f"speed-up 2 vs 1 worker processes: {walls[1] / walls[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
