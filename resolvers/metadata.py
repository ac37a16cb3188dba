"""Entity and version metadata as RDF: the vocabulary, the URIs, the graphs and the queries over them.

An entity ``<{BASE}models/{id}>`` has a named graph of the same name (type, title =
its name, owner, created); each version ``<{BASE}models/{id}/versions/{sha}>`` has
a named graph of the same name (see ``ontology/weblab.ttl`` for the conventions).
Keeping one graph per version means adding a version writes one new graph and
touches nothing else, and deleting it drops exactly that graph.

Every value that came from a user is passed to the store as an RDF term
(``substitutions``), never pasted into query text. pyoxigraph requires a
substituted variable to appear in the projection, hence ``SELECT *`` below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import pyoxigraph as ox

from sparql.store import select

WEBLAB = "https://w3id.org/weblab/ns#"
DCTERMS = "http://purl.org/dc/terms/"
PROV = "http://www.w3.org/ns/prov#"
XSD = "http://www.w3.org/2001/XMLSchema#"

RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PROV_ENTITY = ox.NamedNode(PROV + "Entity")
WAS_REVISION_OF = ox.NamedNode(PROV + "wasRevisionOf")
TITLE = ox.NamedNode(DCTERMS + "title")
DESCRIPTION = ox.NamedNode(DCTERMS + "description")
CREATOR = ox.NamedNode(DCTERMS + "creator")
CREATED = ox.NamedNode(DCTERMS + "created")
HAS_VERSION = ox.NamedNode(DCTERMS + "hasVersion")
IS_VERSION_OF = ox.NamedNode(DCTERMS + "isVersionOf")
VISIBILITY = ox.NamedNode(WEBLAB + "visibility")
VISIBILITY_FROM = ox.NamedNode(WEBLAB + "visibilityFrom")
OWNER = ox.NamedNode(WEBLAB + "owner")
COMMIT = ox.NamedNode(WEBLAB + "commit")
MAIN_FILE = ox.NamedNode(WEBLAB + "mainFile")
TAG = ox.NamedNode(WEBLAB + "tag")
PROTOCOL = ox.NamedNode(WEBLAB + "protocol")
DATETIME = ox.NamedNode(XSD + "dateTime")
RDFS_LABEL = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
COLUMN = ox.NamedNode(WEBLAB + "column")
COLUMN_CLASS = ox.NamedNode(WEBLAB + "Column")
COLUMN_INDEX = ox.NamedNode(WEBLAB + "columnIndex")

PREFIXES = f"PREFIX weblab: <{WEBLAB}>\nPREFIX dcterms: <{DCTERMS}>\nPREFIX prov: <{PROV}>\n"


class Kind(StrEnum):
    """The three kinds of entity; the value is what users type (``--kind model``)."""

    MODEL = "model"
    PROTOCOL = "protocol"
    DATASET = "dataset"

    @property
    def segment(self) -> str:
        """The URI path segment: ``models``, ``protocols``, ``datasets``."""
        return self.value + "s"

    @property
    def entity_class(self) -> ox.NamedNode:
        return ox.NamedNode(WEBLAB + self.value.capitalize())

    @property
    def version_class(self) -> ox.NamedNode:
        return ox.NamedNode(WEBLAB + self.value.capitalize() + "Version")

    @classmethod
    def from_segment(cls, segment: str) -> Kind:
        for kind in cls:
            if kind.segment == segment:
                return kind
        raise ValueError(f"no entity kind for {segment!r}")


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"
    MODERATED = "moderated"

    @property
    def term(self) -> ox.NamedNode:
        return ox.NamedNode(WEBLAB + self.value)

    @classmethod
    def from_term(cls, term: ox.NamedNode) -> Visibility:
        return cls(term.value.removeprefix(WEBLAB))


def entity_uri(base_uri: str, kind: Kind, entity_id: str) -> str:
    return f"{base_uri.rstrip('/')}/{kind.segment}/{entity_id}"


def version_uri(entity: str, sha: str) -> str:
    return f"{entity}/versions/{sha}"


def user_uri(base_uri: str, name: str) -> str:
    return f"{base_uri.rstrip('/')}/users/{name}"


def user_name(base_uri: str, uri: str) -> str:
    return uri.removeprefix(f"{base_uri.rstrip('/')}/users/")


def now() -> datetime:
    return datetime.now(UTC)


def datetime_literal(when: datetime) -> ox.Literal:
    return ox.Literal(when.isoformat(), datatype=DATETIME)


def parse_datetime(term: ox.Literal) -> datetime:
    return datetime.fromisoformat(term.value)


@dataclass(frozen=True)
class EntityRecord:
    """What the entity graph says: the entity's identity, name and owner."""

    uri: str
    id: str
    kind: Kind
    name: str
    owner: str  # user name
    created: datetime
    protocol: str | None = None  # datasets: the protocol entity they belong to


@dataclass(frozen=True)
class VersionRecord:
    """What a version graph says about the version itself (annotations aside)."""

    uri: str
    entity_uri: str
    sha: str
    kind: Kind
    message: str
    author: str  # user name
    created: datetime
    visibility: Visibility
    main: str
    parent: str | None = None  # URI of the version this revises
    tags: tuple[str, ...] = ()


def entity_triples(record: EntityRecord, base_uri: str) -> list[ox.Triple]:
    s = ox.NamedNode(record.uri)
    triples = [
        ox.Triple(s, RDF_TYPE, record.kind.entity_class),
        ox.Triple(s, RDF_TYPE, PROV_ENTITY),
        ox.Triple(s, TITLE, ox.Literal(record.name)),
        ox.Triple(s, OWNER, ox.NamedNode(user_uri(base_uri, record.owner))),
        ox.Triple(s, CREATED, datetime_literal(record.created)),
    ]
    if record.protocol:
        triples.append(ox.Triple(s, PROTOCOL, ox.NamedNode(record.protocol)))
    return triples


def version_triples(record: VersionRecord, base_uri: str) -> list[ox.Triple]:
    v = ox.NamedNode(record.uri)
    e = ox.NamedNode(record.entity_uri)
    title = record.message.strip().splitlines()[0] if record.message.strip() else record.sha[:12]
    triples = [
        ox.Triple(v, RDF_TYPE, record.kind.version_class),
        ox.Triple(v, RDF_TYPE, PROV_ENTITY),
        ox.Triple(v, IS_VERSION_OF, e),
        ox.Triple(e, HAS_VERSION, v),
        ox.Triple(v, TITLE, ox.Literal(title)),
        ox.Triple(v, DESCRIPTION, ox.Literal(record.message)),
        ox.Triple(v, CREATOR, ox.NamedNode(user_uri(base_uri, record.author))),
        ox.Triple(v, CREATED, datetime_literal(record.created)),
        ox.Triple(v, VISIBILITY, record.visibility.term),
        ox.Triple(v, COMMIT, ox.Literal(record.sha)),
        ox.Triple(v, MAIN_FILE, ox.Literal(record.main)),
    ]
    triples.extend(ox.Triple(v, TAG, ox.Literal(t)) for t in record.tags)
    return triples


def revision_graph(version_uri: str) -> ox.NamedNode:
    """Where a version's link to the version it revises lives: a graph of its own.

    The link is visible only when both versions are (``weblab:visibilityFrom``), so a public
    version names its predecessor in SPARQL and linked data exactly when GraphQL shows it.
    """
    return ox.NamedNode(version_uri + "/revision")


def revision_triples(version_uri: str, parent_uri: str) -> list[ox.Triple]:
    graph, version, parent = revision_graph(version_uri), ox.NamedNode(version_uri), ox.NamedNode(parent_uri)
    return [
        ox.Triple(version, WAS_REVISION_OF, parent),
        ox.Triple(graph, VISIBILITY_FROM, version),
        ox.Triple(graph, VISIBILITY_FROM, parent),
    ]


def write_revision(store: ox.Store, version_uri: str, parent_uri: str | None) -> None:
    """Link ``version_uri`` to ``parent_uri`` (None: to nothing), replacing any earlier link."""
    graph = revision_graph(version_uri)
    if parent_uri is None:
        drop_graph(store, graph)
    else:
        write_graph(store, graph, revision_triples(version_uri, parent_uri))


_OLD_REVISION_LINKS = (
    PREFIXES
    + """
SELECT ?v ?parent WHERE { GRAPH ?v { ?v prov:wasRevisionOf ?parent ; dcterms:isVersionOf ?e } }"""
)


def move_revision_links(store: ox.Store) -> int:
    """Move links written inside version graphs (stores from before revision graphs) to their own graphs."""
    moved = 0
    for s in list(select(store, _OLD_REVISION_LINKS)):
        version, parent = s["v"], s["parent"]
        write_revision(store, version.value, parent.value)
        store.remove(ox.Quad(version, WAS_REVISION_OF, parent, version))
        moved += 1
    return moved


def write_graph(store: ox.Store, graph: ox.NamedNode, triples: list[ox.Triple]) -> None:
    """Replace a named graph with ``triples`` (the new content is added in one transaction)."""
    if store.contains_named_graph(graph):
        store.remove_graph(graph)
    store.add_graph(graph)
    store.extend([ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples])


def drop_graph(store: ox.Store, graph: ox.NamedNode) -> None:
    if store.contains_named_graph(graph):
        store.remove_graph(graph)


def graph_triples(store: ox.Store, graph: ox.NamedNode) -> list[ox.Triple]:
    return [
        ox.Triple(q.subject, q.predicate, q.object) for q in store.quads_for_pattern(None, None, None, graph)
    ]


def column_triples(version: str, header: list[str]) -> list[ox.Triple]:
    """A dataset version's columns: ``<v> weblab:column <v#column-N>``, each with its name and 1-based index."""
    v = ox.NamedNode(version)
    triples = []
    for index, name in enumerate(header, start=1):
        column = ox.NamedNode(f"{version}#column-{index}")
        triples += [
            ox.Triple(v, COLUMN, column),
            ox.Triple(column, RDF_TYPE, COLUMN_CLASS),
            ox.Triple(column, RDFS_LABEL, ox.Literal(name)),
            ox.Triple(column, COLUMN_INDEX, ox.Literal(str(index), datatype=ox.NamedNode(XSD + "integer"))),
        ]
    return triples


_ENTITY_QUERY = (
    PREFIXES
    + """
SELECT * WHERE {
  GRAPH ?e { ?e a ?class ; dcterms:title ?name ; weblab:owner ?owner ; dcterms:created ?created .
             OPTIONAL { ?e weblab:protocol ?protocol } }
  FILTER(?class IN (weblab:Model, weblab:Protocol, weblab:Dataset))
}"""
)


def _entity_from(solution: ox.QuerySolution, base_uri: str) -> EntityRecord:
    uri = solution["e"].value
    kind = Kind(solution["class"].value.removeprefix(WEBLAB).lower())
    protocol = solution["protocol"]
    return EntityRecord(
        uri=uri,
        id=uri.rsplit("/", 1)[1],
        kind=kind,
        name=solution["name"].value,
        owner=user_name(base_uri, solution["owner"].value),
        created=parse_datetime(solution["created"]),
        protocol=protocol.value if protocol is not None else None,
    )


def read_entity(store: ox.Store, base_uri: str, uri: str) -> EntityRecord | None:
    """The entity named ``uri``; None also when ``uri`` is no IRI at all (an id with a space typed in a URL)."""
    try:
        node = ox.NamedNode(uri)
    except ValueError:
        return None
    for solution in select(store, _ENTITY_QUERY, substitutions={ox.Variable("e"): node}):
        return _entity_from(solution, base_uri)
    return None


def find_entity(store: ox.Store, base_uri: str, kind: Kind, owner: str, name: str) -> EntityRecord | None:
    """The entity of this kind that ``owner`` named ``name``, if any (names are unique per owner and kind)."""
    solutions = select(
        store,
        _ENTITY_QUERY,
        substitutions={
            ox.Variable("class"): kind.entity_class,
            ox.Variable("owner"): ox.NamedNode(user_uri(base_uri, owner)),
            ox.Variable("name"): ox.Literal(name),
        },
    )
    for solution in solutions:
        return _entity_from(solution, base_uri)
    return None


def list_entities(store: ox.Store, base_uri: str, kind: Kind | None = None) -> list[EntityRecord]:
    subs: dict[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple] | None = (
        {ox.Variable("class"): kind.entity_class} if kind else None
    )
    return [_entity_from(s, base_uri) for s in select(store, _ENTITY_QUERY, substitutions=subs)]


_VERSIONS_QUERY = (
    PREFIXES
    + """
SELECT * WHERE {
  GRAPH ?v { ?v dcterms:isVersionOf ?e ; a ?class ; dcterms:description ?message ; dcterms:creator ?creator ;
                dcterms:created ?created ; weblab:visibility ?visibility ; weblab:commit ?sha ;
                weblab:mainFile ?main .
             FILTER(?class IN (weblab:ModelVersion, weblab:ProtocolVersion, weblab:DatasetVersion))
             OPTIONAL { ?v weblab:tag ?tag } }
  OPTIONAL { GRAPH ?link { ?v prov:wasRevisionOf ?parent } FILTER(STR(?link) = CONCAT(STR(?v), "/revision")) }
}"""
)


def list_versions(store: ox.Store, base_uri: str, entity: str) -> list[VersionRecord]:
    """Every version of an entity, oldest first (whatever their visibility: filter with permissions)."""
    found: dict[str, VersionRecord] = {}
    tags: dict[str, list[str]] = {}
    for s in select(store, _VERSIONS_QUERY, substitutions={ox.Variable("e"): ox.NamedNode(entity)}):
        uri = s["v"].value
        if s["tag"] is not None:
            tags.setdefault(uri, []).append(s["tag"].value)
        if uri in found:
            continue
        found[uri] = VersionRecord(
            uri=uri,
            entity_uri=entity,
            sha=s["sha"].value,
            kind=Kind(s["class"].value.removeprefix(WEBLAB).removesuffix("Version").lower()),
            message=s["message"].value,
            author=user_name(base_uri, s["creator"].value),
            created=parse_datetime(s["created"]),
            visibility=Visibility.from_term(s["visibility"]),
            main=s["main"].value,
            parent=s["parent"].value if s["parent"] is not None else None,
        )
    records = [
        VersionRecord(**{**r.__dict__, "tags": tuple(sorted(tags.get(r.uri, ())))}) for r in found.values()
    ]
    return sorted(records, key=lambda r: r.created)
