"""Finding models by what they are called, say or annotate, and protocols by the terms they need.

The text a user types is always bound to the query as an RDF literal, never
pasted into it. Term labels come from the ontology graphs, so that a search for
"L-type calcium" finds every model annotating ``oxmeta:membrane_L_type_calcium_current``
even though no model file spells the label out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pyoxigraph as ox

from ontology import vocab as v
from ontology.graphs import ontology_graphs
from sparql.store import TripleStore

PREFIXED = {"oxmeta:": v.OXMETA, "weblab:": v.WEBLAB, "bqbiol:": v.BQBIOL}


@dataclass
class ModelHit:
    version: str
    entity: str | None = None
    title: str | None = None
    matched: set[str] = field(default_factory=set)  # "name", "description", "term"
    terms: set[str] = field(default_factory=set)  # the annotation terms that matched


@dataclass(frozen=True)
class Term:
    iri: str
    label: str | None


def expand(term: str) -> str:
    """``oxmeta:time`` → the full IRI; anything else unchanged."""
    for prefix, ns in PREFIXED.items():
        if term.startswith(prefix):
            return ns + term[len(prefix) :]
    return term


def _latest(var: str) -> str:
    return f"FILTER NOT EXISTS {{ GRAPH ?g_{var} {{ ?newer_{var} prov:wasRevisionOf ?{var} }} }}"


_TERMS = (
    v.PREFIXES
    + """
SELECT DISTINCT ?term ?label ?q WHERE {
  { SELECT DISTINCT ?term WHERE { { ?term rdfs:label ?any_label } UNION { GRAPH ?any { ?m weblab:annotatedWith ?term } } } }
  OPTIONAL { ?term rdfs:label ?label }
  FILTER(isIRI(?term) && (CONTAINS(LCASE(STR(?term)), LCASE(?q)) || CONTAINS(LCASE(STR(?label)), LCASE(?q))))
}"""
)


def find_terms(
    store: TripleStore, base_uri: str, text: str, *, graphs: Sequence[ox.NamedNode] | None = None
) -> list[Term]:
    """Terms whose IRI or label contains ``text`` (case-insensitive): ontology terms and terms models use."""
    q = expand(text.strip())
    if not q:
        return []
    rows = store.query(
        _TERMS,
        substitutions={ox.Variable("q"): ox.Literal(q)},
        default_graph=ontology_graphs(base_uri),
        named_graphs=_named(graphs),
    )
    found: dict[str, str | None] = {}
    for r in rows:
        iri = r["term"].value
        label = r["label"].value if r["label"] is not None else None
        if found.get(iri) is None:
            found[iri] = label
    return [Term(iri, label) for iri, label in sorted(found.items())]


def _models_query(latest: bool) -> str:
    return (
        v.PREFIXES
        + f"""
SELECT ?m ?e ?title ?why ?term ?q WHERE {{
  {{ SELECT ?m WHERE {{ GRAPH ?m {{ ?m a weblab:ModelVersion }} {_latest("m") if latest else ""} }} }}
  OPTIONAL {{ GRAPH ?m {{ ?m dcterms:isVersionOf ?e }} }}
  OPTIONAL {{ GRAPH ?e {{ ?e dcterms:title ?title }} }}
  {{
    GRAPH ?e {{ ?e dcterms:title ?text }} BIND("name" AS ?why)
    FILTER(CONTAINS(LCASE(STR(?text)), LCASE(?q)))
  }} UNION {{
    GRAPH ?m {{ ?m dcterms:description|dcterms:title ?text }} BIND("description" AS ?why)
    FILTER(CONTAINS(LCASE(STR(?text)), LCASE(?q)))
  }} UNION {{
    {{ SELECT DISTINCT ?term WHERE {{ {{ ?term rdfs:label ?any_label }} UNION {{ GRAPH ?g {{ ?x weblab:annotatedWith ?term }} }} }} }}
    OPTIONAL {{ ?term rdfs:label ?label }}
    FILTER(CONTAINS(LCASE(STR(?term)), LCASE(?q)) || CONTAINS(LCASE(COALESCE(?label, "")), LCASE(?q)))
    GRAPH ?m {{ ?m weblab:annotatedWith ?term }}
    BIND("term" AS ?why)
  }}
}}"""
    )


def find_models(
    store: TripleStore,
    base_uri: str,
    text: str,
    *,
    latest_only: bool = True,
    graphs: Sequence[ox.NamedNode] | None = None,
) -> list[ModelHit]:
    """Model versions whose entity name, version description, or an annotation term (IRI or label) contains ``text``."""
    q = expand(text.strip())
    if not q:
        return []
    rows = store.query(
        _models_query(latest_only),
        substitutions={ox.Variable("q"): ox.Literal(q)},
        default_graph=ontology_graphs(base_uri),
        named_graphs=_named(graphs),
    )
    hits: dict[str, ModelHit] = {}
    for r in rows:
        uri = r["m"].value
        hit = hits.setdefault(uri, ModelHit(uri))
        if r["e"] is not None:
            hit.entity = r["e"].value
        if r["title"] is not None:
            hit.title = r["title"].value
        hit.matched.add(r["why"].value)
        if r["term"] is not None:
            hit.terms.add(r["term"].value)
    return sorted(hits.values(), key=lambda h: (h.title or "", h.version))


def _protocols_query(latest: bool) -> str:
    return (
        v.PREFIXES
        + f"""
SELECT ?p ?t ?how WHERE {{
  GRAPH ?p {{ ?p a weblab:ProtocolVersion ; ?how ?t . FILTER(?how IN (weblab:requiresTerm, weblab:optionalTerm)) }}
  {_latest("p") if latest else ""}
}}"""
    )


def find_protocols(
    store: TripleStore,
    base_uri: str,
    terms: Iterable[str],
    *,
    include_optional: bool = False,
    latest_only: bool = True,
    graphs: Sequence[ox.NamedNode] | None = None,
) -> list[str]:
    """Protocol versions that need every one of ``terms`` (IRIs or ``oxmeta:`` names).

    With ``include_optional`` a term the protocol uses optionally counts too.
    """
    wanted = {expand(t.strip()) for t in terms if t.strip()}
    if not wanted:
        return []
    uses: dict[str, set[str]] = {}
    for r in store.query(
        _protocols_query(latest_only), default_graph=ontology_graphs(base_uri), named_graphs=_named(graphs)
    ):
        if include_optional or r["how"] == v.REQUIRES_TERM:
            uses.setdefault(r["p"].value, set()).add(r["t"].value)
    return sorted(p for p, used in uses.items() if wanted <= used)


def _named(graphs: Sequence[ox.NamedNode] | None) -> list[ox.NamedNode] | None:
    return list(graphs) if graphs is not None else None
