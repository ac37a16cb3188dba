"""SHACL validation of a version graph against ``shapes.ttl``, with pyshacl.

Every version graph is validated before it is written, so that the store never
holds metadata or annotations that the queries (compatibility, search, the
GraphQL layer) would misread. A violation is reported with the shape's
``sh:message``, the node and the property it is about, so that the owner can
see what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pyoxigraph as ox
import rdflib
from pyshacl import validate

from ontology import vocab as v

SHAPES_FILE = Path(__file__).with_name("shapes.ttl")
_SH = rdflib.Namespace(v.SH)


@cache
def shapes_graph() -> rdflib.Graph:
    """The packaged shapes, parsed once per process."""
    g = rdflib.Graph()
    g.parse(SHAPES_FILE, format="turtle")
    return g


def to_rdflib(triples: Iterable[ox.Triple]) -> rdflib.Graph:
    """An rdflib graph holding the same triples (pyshacl works on rdflib graphs)."""
    g = rdflib.Graph(bind_namespaces="none")
    seen: dict[object, rdflib.term.Node] = {}  # predicates and terms repeat: convert each once

    def term(x: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple) -> rdflib.term.Node:
        node = seen.get(x)
        if node is None:
            node = seen[x] = _term(x)
        return node

    g.addN((term(t.subject), term(t.predicate), term(t.object), g) for t in triples)
    return g


def _term(term: ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple) -> rdflib.term.Node:
    if isinstance(term, ox.NamedNode):
        return rdflib.URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return rdflib.BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return rdflib.Literal(term.value, lang=term.language)
        if (
            term.datatype.value == v.XSD + "string"
        ):  # rdflib tells "x" and "x"^^xsd:string apart; RDF 1.1 does not
            return rdflib.Literal(term.value)
        return rdflib.Literal(term.value, datatype=rdflib.URIRef(term.datatype.value))
    raise TypeError(f"RDF-star triple terms are not stored in version graphs: {term}")


def violations(triples: Iterable[ox.Triple]) -> list[str]:
    """The messages of every SHACL violation in the graph; empty when it conforms.

    Results of severity sh:Warning or sh:Info are not violations and are not returned.
    """
    data = to_rdflib(triples)
    conforms, report, _ = validate(
        data,
        shacl_graph=shapes_graph(),
        inference="none",
        advanced=False,
        abort_on_first=False,
        allow_warnings=True,
    )
    if conforms:
        return []
    messages = []
    for result in report.subjects(rdflib.RDF.type, _SH.ValidationResult):
        if report.value(result, _SH.resultSeverity) != _SH.Violation:
            continue
        message = report.value(result, _SH.resultMessage)
        focus = report.value(result, _SH.focusNode)
        path = report.value(result, _SH.resultPath)
        value = report.value(result, _SH.value)
        where = f"<{focus}>" + (f" {_short(path)}" if path is not None else "")
        got = f" (found {value.n3()})" if value is not None else ""
        messages.append(f"{where}: {message}{got}")
    return sorted(set(messages))


def _short(path: rdflib.term.Node) -> str:
    text = str(path)
    for prefix, ns in (
        ("weblab:", v.WEBLAB),
        ("dcterms:", v.DCTERMS),
        ("prov:", v.PROV),
        ("bqbiol:", v.BQBIOL),
    ):
        if text.startswith(ns):
            return prefix + text[len(ns) :]
    return f"<{text}>"
