"""The ontologies shipped with the platform, loaded as named graphs at start.

Each graph ``<{BASE}ontologies/{name}>`` is built from packaged Turtle files and
records where it came from: ``weblab:sourceFile`` for each file and
``weblab:sourceDigest`` (sha256 over the files' bytes, in order), so that a
start-up reloads a graph only when its files changed, and anyone can ask the
store which version of an ontology it answers with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pyoxigraph as ox

from ontology import vocab as v
from sparql.store import TripleStore

HERE = Path(__file__).parent


@dataclass(frozen=True)
class OntologySource:
    name: str
    files: tuple[str, ...]
    description: str
    upstream: str | None = None  # where the packaged copy comes from

    def paths(self) -> list[Path]:
        """The files that exist (``weblab.ttl`` is optional, so that a partial install still starts)."""
        return [HERE / f for f in self.files if (HERE / f).exists()]

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in self.paths():
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return "sha256:" + h.hexdigest()


SOURCES = (
    OntologySource(
        "oxmeta",
        ("oxmeta.ttl",),
        "The Oxford cardiac metadata ontology (oxmeta, BSD-3-Clause, ModellingWebLab/ontologies)",
        "https://github.com/ModellingWebLab/ontologies",
    ),
    OntologySource("weblab", ("weblab.ttl", "annotations.ttl"), "The Weblab vocabulary"),
    OntologySource("shapes", ("shapes.ttl",), "SHACL shapes every version graph satisfies"),
)


def graph_uri(base_uri: str, name: str) -> ox.NamedNode:
    return ox.NamedNode(f"{base_uri.rstrip('/')}/ontologies/{name}")


def ontology_graphs(base_uri: str) -> list[ox.NamedNode]:
    """The names of the vocabulary graphs (the ones compatibility and search read terms and labels from)."""
    return [graph_uri(base_uri, s.name) for s in SOURCES if s.name != "shapes"]


def source_triples(source: OntologySource) -> list[ox.Triple]:
    triples: list[ox.Triple] = []
    for path in source.paths():
        for quad in ox.parse(path=path, format=ox.RdfFormat.TURTLE, base_iri=path.as_uri()):
            triples.append(ox.Triple(quad.subject, quad.predicate, quad.object))
    return triples


def load_ontologies(store: TripleStore, base_uri: str) -> dict[str, bool]:
    """Load every packaged ontology into its graph unless the store already has that version.

    Returns, for each graph name, whether it was (re)written. Safe to call at every start.
    """
    written: dict[str, bool] = {}
    for source in SOURCES:
        graph = graph_uri(base_uri, source.name)
        digest = source.digest()
        if _stored_digest(store, graph) == digest:
            written[source.name] = False
            continue
        triples = source_triples(source)
        triples += [
            ox.Triple(graph, v.RDF_TYPE, v.ONTOLOGY_GRAPH),
            ox.Triple(graph, v.RDFS_LABEL, ox.Literal(source.description)),
            ox.Triple(graph, v.SOURCE_DIGEST, ox.Literal(digest)),
            ox.Triple(
                graph,
                ox.NamedNode(v.DCTERMS + "modified"),
                ox.Literal(datetime.now(UTC).isoformat(), datatype=ox.NamedNode(v.XSD + "dateTime")),
            ),
        ]
        triples += [ox.Triple(graph, v.SOURCE_FILE, ox.Literal(p.name)) for p in source.paths()]
        if source.upstream:
            triples.append(
                ox.Triple(graph, ox.NamedNode(v.DCTERMS + "source"), ox.NamedNode(source.upstream))
            )
        store.replace_graph(graph, triples)
        written[source.name] = True
    store.flush()
    return written


def _stored_digest(store: TripleStore, graph: ox.NamedNode) -> str | None:
    if not store.has_graph(graph):
        return None
    for quad in store.oxigraph.quads_for_pattern(graph, v.SOURCE_DIGEST, None, graph):
        return quad.object.value
    return None


@cache
def known_terms() -> frozenset[str]:
    """Every IRI the packaged vocabularies define (are subjects of), to tell unknown protocol terms apart."""
    terms: set[str] = set()
    for source in SOURCES:
        if source.name == "shapes":
            continue
        for t in source_triples(source):
            if isinstance(t.subject, ox.NamedNode):
                terms.add(t.subject.value)
    return frozenset(terms)


@cache
def term_labels() -> dict[str, str]:
    """rdfs:label of each packaged term, for messages and search without a store round trip."""
    labels: dict[str, str] = {}
    for source in SOURCES:
        for t in source_triples(source):
            if (
                t.predicate == v.RDFS_LABEL
                and isinstance(t.subject, ox.NamedNode)
                and isinstance(t.object, ox.Literal)
            ):
                labels.setdefault(t.subject.value, t.object.value)
    return labels
