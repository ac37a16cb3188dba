"""A protocol's interface as RDF: the terms it needs from a model, its inputs and its outputs.

The interface comes from the functional-curation engine, but this module does
not import it (``ontology/`` stays independent): it takes any object with the
attributes of ``worker.fc.ProtocolInterface`` (``required_terms``,
``optional_terms``, ``inputs``, ``outputs``; inputs with ``name``, ``default``,
``units``; outputs with ``name``, ``units``, ``description``, ``optional``) or
the same shape as plain dicts, e.g. the engine's ``to_json()``.

>>> iface = {"required_terms": ["https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#time"],
...          "optional_terms": [], "inputs": [{"name": "period", "default": 1000, "units": "ms"}],
...          "outputs": [{"name": "apd", "units": "ms", "description": "APD90"}]}
>>> desc = interface_triples(normalise_interface(iface), "http://localhost:8000/protocols/p/versions/abc")
>>> len([t for t in desc if t.predicate.value.endswith("requiresTerm")])
1
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox

from ontology import vocab as v


@dataclass(frozen=True)
class InputSpec:
    name: str
    default: Any = None
    units: str | None = None


@dataclass(frozen=True)
class OutputSpec:
    name: str
    units: str | None = None
    description: str | None = None
    optional: bool = False


@dataclass
class Interface:
    """The parts of a protocol interface this platform records."""

    required_terms: list[str] = field(default_factory=list)
    optional_terms: list[str] = field(default_factory=list)
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)


class InterfaceError(ValueError):
    """An interface object that lacks a part or has a part of the wrong shape; the message says which."""


def normalise_interface(obj: Any) -> Interface:
    """An :class:`Interface` from the engine's dataclass or from a dict of the same shape."""

    def part(name: str) -> Any:
        if isinstance(obj, Mapping):
            return obj.get(name, [])
        return getattr(obj, name, [])

    def item(x: Any, key: str, default: Any = None) -> Any:
        if isinstance(x, Mapping):
            return x.get(key, default)
        return getattr(x, key, default)

    required = [_term(t, "required_terms") for t in part("required_terms") or []]
    optional = [_term(t, "optional_terms") for t in part("optional_terms") or []]
    inputs = []
    for i, x in enumerate(part("inputs") or []):
        name = item(x, "name")
        if not isinstance(name, str) or not name:
            raise InterfaceError(f"interface inputs[{i}]: an input needs a non-empty name, got {name!r}")
        inputs.append(InputSpec(name, item(x, "default"), item(x, "units")))
    outputs = []
    for i, x in enumerate(part("outputs") or []):
        name = item(x, "name")
        if not isinstance(name, str) or not name:
            raise InterfaceError(f"interface outputs[{i}]: an output needs a non-empty name, got {name!r}")
        outputs.append(
            OutputSpec(name, item(x, "units"), item(x, "description"), bool(item(x, "optional", False)))
        )
    return Interface(_unique(required), [t for t in _unique(optional) if t not in required], inputs, outputs)


def _term(t: Any, where: str) -> str:
    term = str(t)
    try:
        ox.NamedNode(term)
    except ValueError as exc:
        raise InterfaceError(f"interface {where}: {term!r} is not an absolute IRI ({exc})") from None
    return term


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def unknown_terms(iface: Interface, known: set[str]) -> list[str]:
    """The terms the interface uses that no loaded ontology defines (kept, but worth telling the owner)."""
    return [t for t in iface.required_terms + iface.optional_terms if t not in known]


def interface_triples(
    iface: Interface, version_uri: str, known_terms: set[str] | None = None
) -> list[ox.Triple]:
    """The RDF of a protocol version's interface, to add to the version's graph.

    Terms outside ``known_terms`` (when given) are kept and also listed as ``weblab:unknownTerm``.
    """
    version = ox.NamedNode(version_uri)
    triples = [ox.Triple(version, v.REQUIRES_TERM, ox.NamedNode(t)) for t in iface.required_terms]
    triples += [ox.Triple(version, v.OPTIONAL_TERM, ox.NamedNode(t)) for t in iface.optional_terms]
    if known_terms is not None:
        triples += [
            ox.Triple(version, v.UNKNOWN_TERM, ox.NamedNode(t)) for t in unknown_terms(iface, known_terms)
        ]
    for spec in iface.inputs:
        node = ox.NamedNode(f"{version_uri}#input.{quote(spec.name, safe='_-')}")
        triples += [
            ox.Triple(version, v.HAS_INPUT, node),
            ox.Triple(node, v.RDF_TYPE, v.PROTOCOL_INPUT),
            ox.Triple(node, v.NAME, ox.Literal(spec.name)),
        ]
        if spec.default is not None:
            triples.append(ox.Triple(node, v.DEFAULT_VALUE, _value(spec.default)))
        if spec.units:
            triples.append(ox.Triple(node, v.UNITS, ox.Literal(str(spec.units))))
    for out in iface.outputs:
        node = ox.NamedNode(f"{version_uri}#output.{quote(out.name, safe='_-')}")
        triples += [
            ox.Triple(version, v.HAS_OUTPUT, node),
            ox.Triple(node, v.RDF_TYPE, v.PROTOCOL_OUTPUT),
            ox.Triple(node, v.NAME, ox.Literal(out.name)),
            ox.Triple(node, v.IS_OPTIONAL, ox.Literal(out.optional)),
        ]
        if out.units:
            triples.append(ox.Triple(node, v.UNITS, ox.Literal(str(out.units))))
        if out.description:
            triples.append(ox.Triple(node, v.DCTERMS_DESCRIPTION, ox.Literal(str(out.description))))
    return triples


def _value(value: Any) -> ox.Literal:
    """A default as a typed literal: numbers as xsd:double, anything else (arrays, expressions) as JSON text."""
    if isinstance(value, bool):
        return ox.Literal(value)
    if isinstance(value, int | float):
        f = float(value)
        lexical = (
            repr(f)
            if f == f and abs(f) != float("inf")
            else ("NaN" if f != f else ("INF" if f > 0 else "-INF"))
        )
        return ox.Literal(lexical, datatype=ox.NamedNode(v.XSD + "double"))
    if hasattr(value, "tolist"):  # numpy values, without importing numpy
        value = value.tolist()
        if isinstance(value, int | float):
            return _value(value)
    if isinstance(value, str):
        return ox.Literal(value)
    try:
        return ox.Literal(json.dumps(value))
    except TypeError:
        return ox.Literal(str(value))
