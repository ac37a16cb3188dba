"""A run's outputs reach its RDF graph as the engine wrote them (issue #18: one owner of the output format).

The files are written by the engine's own writer (``worker.fc.outputs.format_array``, which
``write_outputs`` uses for every output), never typed by hand: a hand-written stand-in of another layout is
how a 0-d output (SteadyStateRunner's ``num_paces``, S1S2's ``S1S2_slope``) came to be recorded with shape
"2" and no ``rdf:value``, and a 3-d output's header came to be counted as values.
"""

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace

import numpy as np
import pyoxigraph as ox

from resolvers import provenance
from worker.fc.outputs import format_array, parse_output

ARRAYS = {
    "num_paces": np.array(1000.0),  # 0-d: a number
    "APD90": np.array([289.04, 288.9, 287.5]),  # 1-d
    "trace": np.arange(6.0).reshape(2, 3),  # 2-d (the file holds its transpose)
    "cube": np.arange(24.0).reshape(2, 3, 4),  # 3-d
}


def archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, array in ARRAYS.items():
            zf.writestr(f"outputs_{name}.csv", format_array(array, f"{name} as the engine writes it"))
    return out.getvalue()


def test_every_output_has_the_shape_and_values_the_engine_wrote() -> None:
    outputs = {o.name: o for o in provenance.read_outputs(archive())}
    for name, array in ARRAYS.items():
        assert outputs[name].shape == array.shape, name
        assert outputs[name].values == tuple(array.reshape(-1)), name


def test_a_scalar_output_is_one_value_in_the_run_graph() -> None:
    outputs = provenance.read_outputs(archive())
    triples = provenance.run_triples("http://weblab.test/", _run(), outputs)
    scalar = ox.NamedNode("http://weblab.test/runs/r1/outputs/num_paces")
    values = [t.object for t in triples if t.subject == scalar and t.predicate.value.endswith("#value")]
    shapes = [t.object for t in triples if t.subject == scalar and t.predicate.value.endswith("#shape")]
    assert [float(v.value) for v in values] == [1000.0]
    assert shapes == [], "a number has no extents"
    cube = ox.NamedNode("http://weblab.test/runs/r1/outputs/cube")
    assert [
        t.object.value for t in triples if t.subject == cube and t.predicate.value.endswith("#shape")
    ] == ["2,3,4"]
    listed = [t.object.value for t in triples if t.subject == cube and t.predicate.value.endswith("#values")]
    elements = [t for t in triples if t.subject == cube and t.predicate.value.endswith("#element")]
    assert [len(v.split()) for v in listed] == [len(elements)] == [2 * 3 * 4], "the header is no value"
    assert [float(x) for x in listed[0].split()] == list(ARRAYS["cube"].reshape(-1))


def test_the_reader_reads_back_what_the_writer_wrote() -> None:
    for name, array in ARRAYS.items():
        assert np.array_equal(parse_output(format_array(array, name)), array), name


def _run() -> SimpleNamespace:
    """The run-record fields ``run_triples`` reads (a finished run)."""
    return SimpleNamespace(
        id="r1",
        status="SUCCESS",
        attempts=1,
        worker="host:1",
        archive_path=None,
        started_at=None,
        finished_at=None,
        error=None,
        missing_terms=(),
        experiment_uri="http://weblab.test/experiments/e1",
        model_version_uri="http://weblab.test/models/m/versions/1",
        protocol_version_uri="http://weblab.test/protocols/p/versions/1",
    )
