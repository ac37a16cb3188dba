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

BASE = "http://localhost:8000/"
DATETIME = ox.NamedNode(v.XSD + "dateTime")
_STATEMENT = re.compile(r"^\s*(optional\s+)?(input|output|clamp|define|optional)\s+oxmeta:(\w+)", re.M)
_PROTOCOL = re.compile(r"^(tasks|model interface|import)\b", re.M)
_NESTED = re.compile(r'(?:nests\s+protocol|import(?:\s+\w+\s*=)?)\s+"([^"]+)"')


def rough_interface(path: Path, seen: set[Path] | None = None) -> dict[str, list[str]]:
    """Terms a protocol's model interface names, nested protocols included (a stand-in for the engine)."""
    seen = seen if seen is not None else set()
    if path in seen or not path.exists():
        return {"required_terms": [], "optional_terms": []}
    seen.add(path)
    text = path.read_text()
    required, optional = [], []
    for m in _STATEMENT.finditer(text):
        term = v.OXMETA + m.group(3)
        (optional if m.group(1) or m.group(2) == "optional" else required).append(term)
    for name in _NESTED.findall(text):
        inner = rough_interface(path.parent / name, seen)
        required += inner["required_terms"]
        optional += inner["optional_terms"]
    if "state_variable" in text:
        required.append(v.OXMETA + "state_variable")
    return {"required_terms": required, "optional_terms": optional}


def engine_interface(path: Path) -> object | None:
    try:
        from worker import fc
        return fc.load_protocol(path).interface()
    except Exception:  # noqa: BLE001 - any failure means: not available yet
        return None


def metadata(kind: str, entity: str, version: str, sha: str) -> list[ox.Triple]:
    vn = ox.NamedNode(version)
    return [
        ox.Triple(vn, v.RDF_TYPE, v.weblab(kind.capitalize() + "Version")),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "isVersionOf"), ox.NamedNode(entity)),
        ox.Triple(vn, ox.NamedNode(v.DCTERMS + "created"), ox.Literal("2026-01-01T00:00:00+00:00", datatype=DATETIME)),
        ox.Triple(vn, v.weblab("visibility"), v.weblab("public")),
        ox.Triple(vn, v.weblab("commit"), ox.Literal(sha)),
    ]


def fill(store: TripleStore, data: Path) -> tuple[list[str], list[str], str]:
    models, protocols, rough = [], [], []
    for i, path in enumerate(sorted((data / "cellml").glob("*.cellml"))):
        entity, sha = f"{BASE}models/{path.stem}", f"{i:040x}"
        version = f"{entity}/versions/{sha}"
        ann = read_annotations(path.read_bytes(), source=path.name)
        store.replace_graph(ox.NamedNode(version), metadata("model", entity, version, sha) + annotation_triples(ann, version))
        models.append(version)
    real = [p for p in sorted((data / "fc" / "protocols" / "real").glob("*.txt")) if _PROTOCOL.search(p.read_text())]
    for i, path in enumerate(real):  # a file without tasks, interface or imports is a library (S1S2_postproc)
        entity, sha = f"{BASE}protocols/{path.stem}", f"{i:040x}"
        version = f"{entity}/versions/{sha}"
        iface = engine_interface(path)
        if iface is None:
            iface = rough_interface(path)
            rough.append(path.stem)
        triples = interface_triples(normalise_interface(iface), version)
        store.replace_graph(ox.NamedNode(version), metadata("protocol", entity, version, sha) + triples)
        protocols.append(version)
    source = f"engine for {len(protocols) - len(rough)}, rough text reading for {len(rough)} {rough}"
    return models, protocols, source


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
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT / ".." / "shared" / "data")))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="weblab-bench-") as tmp:
        run(TripleStore(None if args.memory else Path(tmp) / "store"), args)


def run(store: TripleStore, args: argparse.Namespace) -> None:
    load_ontologies(store, BASE)
    t = time.perf_counter()
    models, protocols, source = fill(store, args.data)
    store.flush()
    print(f"store ({'memory' if store.path is None else 'on disk'}): {len(models)} models × {len(protocols)} protocols filled in {time.perf_counter() - t:.2f} s; interfaces: {source}")

    pair_t, _ = timed(lambda: compat.check_pair(store, BASE, models[0], protocols[0]), args.repeat * 10)
    model_t, _ = timed(lambda: compat.check_model(store, BASE, models[len(models) // 2]), args.repeat * 3)
    protocol_t, _ = timed(lambda: compat.check_protocol(store, BASE, protocols[len(protocols) // 2]), args.repeat * 3)
    matrix_t, cells = timed(lambda: compat.matrix(store, BASE), args.repeat)
    naive_t, naive = timed(lambda: [compat.check_pair(store, BASE, m, p) for m in models for p in protocols], 1)
    assert {(c.model, c.protocol, c.missing) for c in cells} == {(c.model, c.protocol, c.missing) for c in naive}
    fits = sum(c.fits for c in cells)
    print(f"one pair:                      {pair_t * 1000:8.2f} ms")
    print(f"one model vs all protocols:    {model_t * 1000:8.2f} ms")
    print(f"one protocol vs all models:    {protocol_t * 1000:8.2f} ms")
    print(f"whole matrix ({len(cells)} cells, {fits} fit): {matrix_t * 1000:8.2f} ms  (target < 200 ms)")
    print(f"naive baseline (a pair query per cell): {naive_t * 1000:8.2f} ms  → matrix is {naive_t / matrix_t:.1f}× faster")


if __name__ == "__main__":
    main()
