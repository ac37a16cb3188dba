"""A protocol interface (from the engine, or a plain dict of the same shape) as RDF."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ontology import vocab as v
from ontology.graphs import known_terms
from ontology.protocols import InterfaceError, interface_triples, normalise_interface, unknown_terms

OX = v.OXMETA
URI = "http://weblab.test/protocols/p/versions/" + "b" * 40


@dataclass
class InputSpec:
    name: str
    default: object
    units: str | None


@dataclass
class OutputSpec:
    name: str
    units: str | None
    description: str | None
    optional: bool = False


@dataclass
class ProtocolInterface:
    """Shaped like worker.fc.ProtocolInterface, which describe_version passes in."""

    required_terms: list[str]
    optional_terms: list[str] = field(default_factory=list)
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)


def _objects(triples, subject: str, predicate) -> set[str]:
    return {t.object.value for t in triples if t.subject.value == subject and t.predicate == predicate}


def test_engine_shaped_interface_becomes_rdf() -> None:
    iface = ProtocolInterface(
        required_terms=[OX + "time", OX + "membrane_voltage"],
        optional_terms=[
            OX + "cytosolic_calcium_concentration",
            OX + "time",
        ],  # a required term is not also optional
        inputs=[InputSpec("pacing_period", 1000, "ms"), InputSpec("block_levels", [0, 0.5, 1.0], None)],
        outputs=[
            OutputSpec("APD90", "ms", "Action potential duration"),
            OutputSpec("trace", "mV", None, True),
        ],
    )
    triples = interface_triples(normalise_interface(iface), URI)
    assert _objects(triples, URI, v.REQUIRES_TERM) == {OX + "time", OX + "membrane_voltage"}
    assert _objects(triples, URI, v.OPTIONAL_TERM) == {OX + "cytosolic_calcium_concentration"}
    inputs = _objects(triples, URI, v.HAS_INPUT)
    assert len(inputs) == 2
    by_name = {next(iter(_objects(triples, i, v.NAME))): i for i in inputs}
    assert _objects(triples, by_name["pacing_period"], v.DEFAULT_VALUE) == {"1000.0"}
    assert _objects(triples, by_name["pacing_period"], v.UNITS) == {"ms"}
    assert _objects(triples, by_name["block_levels"], v.DEFAULT_VALUE) == {"[0, 0.5, 1.0]"}
    outputs = {next(iter(_objects(triples, o, v.NAME))): o for o in _objects(triples, URI, v.HAS_OUTPUT)}
    assert _objects(triples, outputs["APD90"], v.DCTERMS_DESCRIPTION) == {"Action potential duration"}
    assert _objects(triples, outputs["trace"], v.IS_OPTIONAL) == {"true"}


def test_dict_interface_is_accepted() -> None:
    iface = normalise_interface({"required_terms": [OX + "time"], "outputs": [{"name": "x", "units": "ms"}]})
    assert iface.required_terms == [OX + "time"] and iface.outputs[0].name == "x"


def test_unknown_terms_are_kept_and_listed() -> None:
    iface = normalise_interface(
        {"required_terms": [OX + "time", "urn:temp-names#membrane_total_sodium_current"]}
    )
    known = set(known_terms())
    assert unknown_terms(iface, known) == ["urn:temp-names#membrane_total_sodium_current"]
    triples = interface_triples(iface, URI, known)
    assert "urn:temp-names#membrane_total_sodium_current" in _objects(triples, URI, v.REQUIRES_TERM)
    assert _objects(triples, URI, v.UNKNOWN_TERM) == {"urn:temp-names#membrane_total_sodium_current"}


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"required_terms": ["not an iri"]}, "required_terms"),
        ({"inputs": [{"default": 1}]}, "inputs[0]"),
        ({"outputs": [{"name": ""}]}, "outputs[0]"),
    ],
)
def test_malformed_interface_says_where(bad: dict, where: str) -> None:
    with pytest.raises(InterfaceError, match=f"interface {where.replace('[', '.').replace(']', '.')}"):
        normalise_interface(bad)
