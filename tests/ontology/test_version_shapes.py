"""SHACL: what resolvers.describe adds to a version graph conforms; broken metadata is refused with the shape's message."""

from __future__ import annotations

import pyoxigraph as ox
import pytest
from annotation_corpus import BASE, DATA, sha, version_metadata

from ontology import vocab as v
from resolvers.describe import describe_version, validate_version_graph

MODEL = BASE + "models/m"
VERSION = f"{MODEL}/versions/{sha(1)}"


def _without(triples: list[ox.Triple], predicate: ox.NamedNode) -> list[ox.Triple]:
    return [t for t in triples if t.predicate != predicate]


def test_a_described_corpus_model_conforms() -> None:
    files = {"ohara.cellml": (DATA / "cellml" / "ohara_rudy_2011_epi.cellml").read_bytes()}
    desc = describe_version("model", files, "ohara.cellml", VERSION)
    assert desc.warnings == []
    assert validate_version_graph(version_metadata("model", MODEL, VERSION) + desc.triples) == []


def test_a_described_protocol_interface_conforms() -> None:
    from resolvers.describe import describe_protocol

    iface = {
        "required_terms": [v.OXMETA + "time"],
        "inputs": [{"name": "n", "default": 3, "units": "ms"}],
        "outputs": [{"name": "out", "units": "mV", "description": "a trace"}],
    }
    uri = f"{BASE}protocols/p/versions/{sha(2)}"
    desc = describe_protocol({"p.txt": b""}, "p.txt", uri, interface=iface)
    assert (
        validate_version_graph(version_metadata("protocol", BASE + "protocols/p", uri) + desc.triples) == []
    )


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda ts: _without(ts, v.weblab("visibility")), "exactly one visibility"),
        (
            lambda ts: (
                _without(ts, v.weblab("visibility"))
                + [ox.Triple(ox.NamedNode(VERSION), v.weblab("visibility"), v.weblab("secret"))]
            ),
            "exactly one visibility",
        ),
        (
            lambda ts: (
                _without(ts, ox.NamedNode(v.DCTERMS + "created"))
                + [
                    ox.Triple(
                        ox.NamedNode(VERSION), ox.NamedNode(v.DCTERMS + "created"), ox.Literal("yesterday")
                    )
                ]
            ),
            "creation time",
        ),
        (
            lambda ts: (
                _without(ts, v.weblab("commit"))
                + [ox.Triple(ox.NamedNode(VERSION), v.weblab("commit"), ox.Literal("HEAD"))]
            ),
            "git commit",
        ),
        (
            lambda ts: ts + [ox.Triple(ox.NamedNode(VERSION + "#c.x"), v.RDF_TYPE, v.MODEL_VARIABLE)],
            "component name",
        ),
        (
            lambda ts: ts + [ox.Triple(ox.NamedNode(VERSION), v.REQUIRES_TERM, ox.Literal("time"))],
            "requiresTerm names an ontology term",
        ),
    ],
)
def test_broken_metadata_is_refused_with_the_shapes_message(change, expected: str) -> None:
    problems = validate_version_graph(change(version_metadata("model", MODEL, VERSION)))
    assert problems, "the broken graph conformed"
    assert any(expected in p for p in problems), problems
