"""A finished run as linked data: PROV-O provenance and its small outputs as values with units.

Each finished run gets the named graph ``<{BASE}runs/{id}>``::

    <run> a prov:Activity, weblab:ExperimentRun ;
        weblab:experiment <{BASE}experiments/{eid}> ;
        prov:used <model version>, <protocol version> ;
        weblab:model <model version> ; weblab:protocol <protocol version> ;
        weblab:status "SUCCESS" ; prov:startedAtTime … ; prov:endedAtTime … ;
        prov:wasAssociatedWith <run#engine> ; weblab:worker "host:pid" ;
        prov:generated <run/archive>, <run/outputs/APD90> … ;
        weblab:visibilityFrom <model version>, <protocol version> .   # visible when both are
    <run#engine> a prov:SoftwareAgent ; rdfs:label "weblab functional curation" ; weblab:engineVersion "…" .
    <run/outputs/APD90> a weblab:Output, prov:Entity ; prov:wasGeneratedBy <run> ;
        weblab:name "APD90" ; dcterms:description "…" ; weblab:units "ms" ; weblab:shape "62" ;
        rdf:value 289.04 ;                       # scalars (and one-element vectors)
        weblab:values "289.04 288.9 …" ;         # vectors up to MAX_VALUES, in order
        weblab:element [ weblab:index 0 ; rdf:value 289.04 ] …

and the experiment's graph ``<{BASE}experiments/{eid}>`` names its model, its
protocol and its latest finished run (``weblab:latestRun``), so "APD90 of every
model" is one query::

    SELECT ?model ?apd WHERE {
      GRAPH ?e { ?e weblab:latestRun ?run ; weblab:model ?model }
      GRAPH ?run { ?run prov:generated ?o . ?o weblab:name "APD90" ; rdf:value ?apd }
    }

Larger outputs stay in the archive only.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox

from resolvers.errors import ValidationError

WEBLAB = "https://w3id.org/weblab/ns#"
PROV = "http://www.w3.org/ns/prov#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
DCTERMS = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"

MAX_VALUES = 100  # outputs with at most this many numbers become RDF values
MAX_PARSED_BYTES = 256 * 1024  # larger output files are not read at all

_TYPE = ox.NamedNode(RDF + "type")
_VALUE = ox.NamedNode(RDF + "value")


def _w(name: str) -> ox.NamedNode:
    return ox.NamedNode(WEBLAB + name)


def _p(name: str) -> ox.NamedNode:
    return ox.NamedNode(PROV + name)


@dataclass(frozen=True)
class Output:
    """One protocol output as the archive holds it; ``values`` is None when it is too large to keep as RDF."""

    name: str
    file: str
    description: str = ""
    units: str = ""
    shape: tuple[int, ...] = ()
    values: tuple[float, ...] | None = None


def _open(archive: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise ValidationError(
            "archive", f"the result archive is not a zip (COMBINE/OMEX) file: {exc}"
        ) from exc


def read_errors(archive: bytes) -> str | None:
    """The text of ``errors.txt`` in a result archive (None when there is none), at most 4000 characters."""
    with _open(archive) as zf:
        if "errors.txt" not in zf.namelist():
            return None
        text = zf.read("errors.txt").decode("utf-8", "replace").strip()
    return text[:4000] or None


def _numbers(text: str) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """Shape and values (in C order) of one engine output file; None when it holds something other than
    numbers. The engine's own reader decides (one owner of the format): a 0-d file is one value, shape ()."""
    from worker.fc.outputs import parse_output  # the engine writes the format, so it reads it

    try:
        array = parse_output(text)
    except (ValueError, IndexError):
        return None
    return tuple(int(n) for n in array.shape), tuple(float(x) for x in array.reshape(-1))


def _contents(zf: zipfile.ZipFile) -> dict[str, dict[str, Any]]:
    """``outputs-contents.csv`` by output name: lower-cased column → value, and ``shape`` from the
    trailing ``Dimensions`` columns (one column per dimension)."""
    if "outputs-contents.csv" not in zf.namelist():
        return {}
    rows = list(csv.reader(io.StringIO(zf.read("outputs-contents.csv").decode("utf-8", "replace"))))
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]
    found: dict[str, dict[str, Any]] = {}
    for row in rows[1:]:
        entry: dict[str, Any] = {h: v.strip() for h, v in zip(header, row, strict=False)}
        if "dimensions" in header:
            dims = row[header.index("dimensions") :]
            if dims and all(d.strip().isdigit() for d in dims):
                entry["shape"] = tuple(int(d) for d in dims)
        name = entry.get("variable id") or entry.get("name")
        if name:
            found[name] = entry
    return found


def read_outputs(archive: bytes) -> list[Output]:
    """The outputs in a result archive (``outputs_<name>.csv``), described by ``outputs-contents.csv``."""
    outputs = []
    with _open(archive) as zf:
        contents = _contents(zf)
        for info in zf.infolist():
            name = info.filename
            if "/" in name or not name.startswith("outputs_") or not name.endswith(".csv"):
                continue
            output_name = name.removeprefix("outputs_").removesuffix(".csv")
            meta = contents.get(output_name, {})
            shape: tuple[int, ...] = ()
            values: tuple[float, ...] | None = None
            if info.file_size <= MAX_PARSED_BYTES:
                parsed = _numbers(zf.read(info).decode("utf-8", "replace"))
                if parsed is not None:
                    shape, numbers = parsed
                    declared = meta.get("shape")
                    if declared and math.prod(declared) == len(numbers):
                        shape = declared
                    values = numbers if len(numbers) <= MAX_VALUES else None
            if not shape and meta.get("shape"):
                shape = meta["shape"]
            outputs.append(
                Output(
                    name=output_name,
                    file=name,
                    description=meta.get("variable name", ""),
                    units=meta.get("units", ""),
                    shape=shape,
                    values=values,
                )
            )
    return sorted(outputs, key=lambda o: o.name)


def _dt(when: datetime) -> ox.Literal:
    return ox.Literal(when.isoformat(), datatype=ox.NamedNode(XSD + "dateTime"))


def _double(x: float) -> ox.Literal:
    return ox.Literal(
        repr(float(x)) if math.isfinite(x) else ("NaN" if math.isnan(x) else ("INF" if x > 0 else "-INF")),
        datatype=ox.NamedNode(XSD + "double"),
    )


def _int(n: int) -> ox.Literal:
    return ox.Literal(str(n), datatype=ox.NamedNode(XSD + "integer"))


def run_triples(
    base_uri: str, run: Any, outputs: Iterable[Output], *, engine_version: str = ""
) -> list[ox.Triple]:
    """The triples of a finished run's graph (``run`` is a ``resolvers.runs.Run``).

    A run that ended without a result (inapplicable, cancelled, given up) has no archive, and the engine is
    named only if the run started.
    """
    base = base_uri.rstrip("/")
    r = ox.NamedNode(f"{base}/runs/{run.id}")
    model = ox.NamedNode(run.model_version_uri)
    protocol = ox.NamedNode(run.protocol_version_uri)
    engine = ox.NamedNode(f"{r.value}#engine")
    archive = ox.NamedNode(f"{r.value}/archive")
    t = [
        ox.Triple(r, _TYPE, _p("Activity")),
        ox.Triple(r, _TYPE, _w("ExperimentRun")),
        ox.Triple(r, _w("experiment"), ox.NamedNode(run.experiment_uri)),
        ox.Triple(r, _p("used"), model),
        ox.Triple(r, _p("used"), protocol),
        ox.Triple(r, _w("model"), model),
        ox.Triple(r, _w("protocol"), protocol),
        ox.Triple(r, _w("status"), ox.Literal(run.status)),
        ox.Triple(r, _w("attempts"), _int(run.attempts)),
        ox.Triple(r, _w("visibilityFrom"), model),
        ox.Triple(r, _w("visibilityFrom"), protocol),
    ]
    if run.started_at or engine_version:
        t += [
            ox.Triple(r, _p("wasAssociatedWith"), engine),
            ox.Triple(engine, _TYPE, _p("SoftwareAgent")),
            ox.Triple(engine, ox.NamedNode(RDFS + "label"), ox.Literal("weblab functional curation engine")),
        ]
    if run.archive_path:
        t += [
            ox.Triple(r, _p("generated"), archive),
            ox.Triple(archive, _TYPE, _p("Entity")),
            ox.Triple(archive, ox.NamedNode(DCTERMS + "format"), ox.Literal("application/zip")),
            ox.Triple(archive, _p("wasGeneratedBy"), r),
        ]
    if engine_version:
        t.append(ox.Triple(engine, _w("engineVersion"), ox.Literal(engine_version)))
    if run.worker:
        t.append(ox.Triple(r, _w("worker"), ox.Literal(run.worker)))
    if run.started_at:
        t.append(ox.Triple(r, _p("startedAtTime"), _dt(run.started_at)))
    if run.finished_at:
        t.append(ox.Triple(r, _p("endedAtTime"), _dt(run.finished_at)))
    if run.error:
        t.append(ox.Triple(r, _w("error"), ox.Literal(run.error)))
    for term in run.missing_terms:
        t.append(ox.Triple(r, _w("missingTerm"), ox.NamedNode(term)))
    for out in outputs:
        o = ox.NamedNode(f"{r.value}/outputs/{quote(out.name, safe='')}")
        t += [
            ox.Triple(r, _p("generated"), o),
            ox.Triple(o, _TYPE, _w("Output")),
            ox.Triple(o, _TYPE, _p("Entity")),
            ox.Triple(o, _p("wasGeneratedBy"), r),
            ox.Triple(o, _w("name"), ox.Literal(out.name)),
            ox.Triple(o, _w("file"), ox.Literal(out.file)),
        ]
        if out.description:
            t.append(ox.Triple(o, ox.NamedNode(DCTERMS + "description"), ox.Literal(out.description)))
        if out.units:
            t.append(ox.Triple(o, _w("units"), ox.Literal(out.units)))
        if out.shape:
            t.append(ox.Triple(o, _w("shape"), ox.Literal(",".join(str(n) for n in out.shape))))
        if out.values is None:
            continue
        if len(out.values) == 1:
            t.append(ox.Triple(o, _VALUE, _double(out.values[0])))
            continue
        t.append(ox.Triple(o, _w("values"), ox.Literal(" ".join(repr(v) for v in out.values))))
        for i, value in enumerate(out.values):
            element = ox.NamedNode(f"{o.value}/{i}")
            t += [
                ox.Triple(o, _w("element"), element),
                ox.Triple(element, _w("index"), _int(i)),
                ox.Triple(element, _VALUE, _double(value)),
            ]
    return t


def experiment_triples(run: Any) -> list[ox.Triple]:
    e = ox.NamedNode(run.experiment_uri)
    model = ox.NamedNode(run.model_version_uri)
    protocol = ox.NamedNode(run.protocol_version_uri)
    return [
        ox.Triple(e, _TYPE, _w("Experiment")),
        ox.Triple(e, _w("model"), model),
        ox.Triple(e, _w("protocol"), protocol),
        ox.Triple(
            e,
            _w("latestRun"),
            ox.NamedNode(run.experiment_uri.rsplit("/experiments/", 1)[0] + f"/runs/{run.id}"),
        ),
        ox.Triple(e, _w("visibilityFrom"), model),
        ox.Triple(e, _w("visibilityFrom"), protocol),
    ]


def write_run_graph(
    store: Any, base_uri: str, run: Any, outputs: Iterable[Output], *, engine_version: str = ""
) -> None:
    """Write the run's graph and point its experiment's graph at it (each graph replaced whole).

    The caller flushes the store (readers in other processes see flushed data only).
    """
    base = base_uri.rstrip("/")
    store.replace_graph(
        ox.NamedNode(f"{base}/runs/{run.id}"),
        run_triples(base_uri, run, outputs, engine_version=engine_version),
    )
    store.replace_graph(ox.NamedNode(run.experiment_uri), experiment_triples(run))
