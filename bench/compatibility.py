"""Benchmark: compatibility questions on the 62 corpus models × the 30 real protocols, embedded store.

    .venv/bin/python bench/compatibility.py [--repeat N] [--data ../shared/data]

Prints the time of one pair, one model against all protocols (and one protocol
against all models), and the whole
latest-version matrix (target: under 200 ms), and the ratio of the matrix query
to a naive baseline measured in the same run: one pair query per cell.

Protocol interfaces come from the functional-curation engine (``worker.fc``)
when it can load protocols; until then from a rough reading of the protocol
text (every ``oxmeta:`` term in a model-interface statement of the protocol or
of a protocol it nests), which has the same size and shape for timing.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)  # bench/queue.py would shadow the standard library's queue
sys.path.insert(0, str(ROOT))

from ontology import compatibility as compat  # noqa: E402
from ontology import vocab as v  # noqa: E402
from ontology.cellml import annotation_triples, read_annotations  # noqa: E402
from ontology.graphs import load_ontologies  # noqa: E402
from ontology.protocols import interface_triples, normalise_interface  # noqa: E402
from sparql.store import TripleStore  # noqa: E402
from worker import fc  # noqa: E402

BASE = "http://localhost:8000/"
DATETIME = ox.NamedNode(v.XSD + "dateTime")
_PROTOCOL = re.compile(r"^(tasks|model interface|import)\b", re.M)


def metadata(kind: str, entity: str, version: str, sha: str) -> list[ox.Triple]:
    vn = ox.NamedNode(version)
    return [
        ox.Triple(vn, v.RDF_TYPE, v.weblab(kind.capitalize() + "Version")),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "isVersionOf"), ox.NamedNode(entity)),
        ox.Triple(
            vn,
            ox.NamedNode(v.DCTERMS + "created"),
            ox.Literal("2026-01-01T00:00:00+00:00", datatype=DATETIME),
        ),
        ox.Triple(vn, v.weblab("visibility"), v.weblab("public")),
        ox.Triple(vn, v.weblab("commit"), ox.Literal(sha)),
    ]


def fill(store: TripleStore, data: Path) -> tuple[list[str], list[str]]:
    """The corpus models and real protocols, their interfaces as the engine reads them."""
    models, protocols = [], []
    for i, path in enumerate(sorted((data / "cellml").glob("*.cellml"))):
        entity, sha = f"{BASE}models/{path.stem}", f"{i:040x}"
        version = f"{entity}/versions/{sha}"
        ann = read_annotations(path.read_bytes(), source=path.name)
        store.replace_graph(
            ox.NamedNode(version), metadata("model", entity, version, sha) + annotation_triples(ann, version)
        )
        models.append(version)
    real = [
        p
        for p in sorted((data / "fc" / "protocols" / "real").glob("*.txt"))
        if _PROTOCOL.search(p.read_text())
    ]
    for i, path in enumerate(real):  # a file without tasks, interface or imports is a library (S1S2_postproc)
        entity, sha = f"{BASE}protocols/{path.stem}", f"{i:040x}"
        version = f"{entity}/versions/{sha}"
        try:
            interface = fc.load_protocol(path).interface()
        except fc.FcError as exc:  # the platform, too, lists an unreadable protocol as fitting no model
            print(f"skipped {path.name}: the engine cannot read it ({exc})")
            continue
        triples = interface_triples(normalise_interface(interface), version)
        store.replace_graph(ox.NamedNode(version), metadata("protocol", entity, version, sha) + triples)
        protocols.append(version)
    return models, protocols


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--memory", action="store_true", help="an in-memory store instead of one on disk")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT / ".." / "shared" / "data")),
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="weblab-bench-") as tmp:
        run(TripleStore(None if args.memory else Path(tmp) / "store"), args)


def run(store: TripleStore, args: argparse.Namespace) -> None:
    load_ontologies(store, BASE)
    t = time.perf_counter()
    models, protocols = fill(store, args.data)
    store.flush()
    print(
        f"store ({'memory' if store.path is None else 'on disk'}): {len(models)} models × {len(protocols)} protocols filled in {time.perf_counter() - t:.2f} s"
    )

    pair_t, _ = timed(lambda: compat.check_pair(store, BASE, models[0], protocols[0]), args.repeat * 10)
    model_t, _ = timed(lambda: compat.check_model(store, BASE, models[len(models) // 2]), args.repeat * 3)
    protocol_t, _ = timed(
        lambda: compat.check_protocol(store, BASE, protocols[len(protocols) // 2]), args.repeat * 3
    )
    matrix_t, cells = timed(lambda: compat.matrix(store, BASE), args.repeat)
    naive_t, naive = timed(
        lambda: [compat.check_pair(store, BASE, m, p) for m in models for p in protocols], 1
    )
    assert {(c.model, c.protocol, c.missing) for c in cells} == {
        (c.model, c.protocol, c.missing) for c in naive
    }
    fits = sum(c.fits for c in cells)
    print(f"one pair:                      {pair_t * 1000:8.2f} ms")
    print(f"one model vs all protocols:    {model_t * 1000:8.2f} ms")
    print(f"one protocol vs all models:    {protocol_t * 1000:8.2f} ms")
    print(f"whole matrix ({len(cells)} cells, {fits} fit): {matrix_t * 1000:8.2f} ms  (target < 200 ms)")
    print(
        f"naive baseline (a pair query per cell): {naive_t * 1000:8.2f} ms  → matrix is {naive_t / matrix_t:.1f}× faster"
    )


if __name__ == "__main__":
    main()
