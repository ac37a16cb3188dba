"""Which graphs the platform owns, said by the platform itself rather than read off a graph's name.

Every named graph is the platform's (managed: read by visibility, written by
the platform only) unless the registry says an admin made it through SPARQL
Update or the Graph Store protocol. The registry is one named graph,
:data:`REGISTRY`, holding ``<g> a weblab:AdminGraph`` for each such graph and
the base URI the store was written under. Deciding by default that a graph is
managed means a graph nobody registered is hidden, never published: a changed
``WEBLAB_BASE_URI``, a graph written behind the platform's back on a remote
store, or a registration lost in a crash all fail closed.

A store written under one base URI and opened under another is refused
(:class:`BaseURIMismatch`) until ``weblab rebase OLD NEW`` rewrites it
(:func:`rebase_update`). A store from before the registry is adopted once
(:func:`adopt`): graphs carrying platform metadata stay managed, the rest
were admins' and are registered as such.

>>> import pyoxigraph as ox
>>> from sparql.store import TripleStore
>>> store = TripleStore()
>>> check_base(store, "http://localhost:8000/")
>>> stored_base(store)
'http://localhost:8000/'
>>> try:
...     check_base(store, "https://weblab.example.org/")
... except BaseURIMismatch as exc:
...     print(exc.stored, "->", exc.configured)
http://localhost:8000/ -> https://weblab.example.org/
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pyoxigraph as ox

WEBLAB = "https://w3id.org/weblab/ns#"
REGISTRY = ox.NamedNode("urn:weblab:registry")
ADMIN_GRAPH = ox.NamedNode(WEBLAB + "AdminGraph")
BASE_URI = ox.NamedNode(WEBLAB + "baseURI")
_RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")

MANAGED_AREAS = ("models/", "protocols/", "datasets/", "runs/", "experiments/", "ontologies/", "users/")
"""Where the platform names its graphs under the base URI; admins may never create a graph there."""

_PLATFORM_GRAPH = re.compile(r"^(.+?/)(?:" + "|".join(a.rstrip("/") for a in MANAGED_AREAS) + ")/")


class BaseURIMismatch(Exception):
    """The store was written under another base URI; the message names both and the command that rewrites."""

    def __init__(self, stored: str, configured: str) -> None:
        self.stored, self.configured = stored, configured
        super().__init__(
            f"the triple store was written under the base URI {stored}, but WEBLAB_BASE_URI is {configured}. "
            f"Its graphs would not be recognised as the platform's under the new base. Set WEBLAB_BASE_URI "
            f"back to {stored}, or stop every Weblab process on this deployment and rewrite the store and "
            f"database once with: weblab rebase {stored} {configured}"
        )


def _base(uri: str) -> str:
    return uri.rstrip("/") + "/"


def managed_prefixes(base_uri: str) -> tuple[str, ...]:
    return tuple(_base(base_uri) + area for area in MANAGED_AREAS)


def admin_graphs(store: Any) -> frozenset[str]:
    """The named graphs admins made (``store``: a ``TripleStore`` or its remote twin)."""
    found = store.query(f"SELECT ?g WHERE {{ GRAPH {REGISTRY} {{ ?g a {ADMIN_GRAPH} }} }}")
    return frozenset(s["g"].value for s in found)


def register_update(graphs: Iterable[str]) -> str:
    """The SPARQL Update that registers ``graphs`` as admins', to append to the update that creates them."""
    triples = " ".join(f"{ox.NamedNode(g)} a {ADMIN_GRAPH} ." for g in sorted(set(graphs)))
    return f"INSERT DATA {{ GRAPH {REGISTRY} {{ {triples} }} }}" if triples else ""


def register(store: Any, graphs: Iterable[str]) -> None:
    update = register_update(graphs)
    if update:
        store.update(update)


def stored_base(store: Any) -> str | None:
    found = store.query(f"SELECT ?b WHERE {{ GRAPH {REGISTRY} {{ {REGISTRY} {BASE_URI} ?b }} }}")
    return next((s["b"].value for s in found), None)


def _platform_bases(store: Any) -> set[str]:
    """Bases under which the store holds graphs with platform metadata (for stores from before the registry)."""
    query = f"""SELECT DISTINCT ?g WHERE {{ GRAPH ?g {{ ?g ?p ?o }}
        VALUES ?p {{ <{WEBLAB}visibility> <{WEBLAB}owner> <{WEBLAB}visibilityFrom> <{WEBLAB}sourceDigest> }} }}"""
    bases = set()
    for s in store.query(query):
        match = _PLATFORM_GRAPH.match(s["g"].value)
        if match:
            bases.add(match.group(1))
    return bases


def adopt(store: Any, base_uri: str) -> None:
    """Give a store without a registry one: record its base, register every graph not the platform's."""
    base = _base(base_uri)
    foreign = sorted(_platform_bases(store) - {base})
    if foreign:
        raise BaseURIMismatch(foreign[0], base)
    prefixes = managed_prefixes(base)
    theirs = [g.value for g in store.named_graphs() if g != REGISTRY and not g.value.startswith(prefixes)]
    literal = ox.Literal(base)
    update = f"INSERT DATA {{ GRAPH {REGISTRY} {{ {REGISTRY} {BASE_URI} {literal} }} }}"
    if theirs:
        update += " ; " + register_update(theirs)
    store.update(update)


def check_base(store: Any, base_uri: str) -> None:
    """Refuse a store written under another base URI; adopt one from before the registry."""
    stored = stored_base(store)
    if stored is None:
        adopt(store, base_uri)
    elif stored != _base(base_uri):
        raise BaseURIMismatch(stored, _base(base_uri))


def _rewritten(var: str, old: str, new: str) -> str:
    test = f"isIRI(?{var}) && STRSTARTS(STR(?{var}), {ox.Literal(old)})"
    return f"BIND(IF({test}, IRI(CONCAT({ox.Literal(new)}, STRAFTER(STR(?{var}), {ox.Literal(old)}))), ?{var}) AS ?{var}2)"


def rebase_update(old: str, new: str) -> str:
    """One SPARQL Update (one transaction) that renames every IRI under ``old`` to the same path under ``new``.

    Graph names, subjects and objects are rewritten, in named graphs and the default graph;
    literals are left as written, except the registry's record of the base.
    """
    old, new = _base(old), _base(new)
    touches = " || ".join(
        f"(isIRI(?{v}) && STRSTARTS(STR(?{v}), {ox.Literal(old)}))" for v in ("g", "s", "o")
    )
    binds = " ".join(_rewritten(v, old, new) for v in ("g", "s", "o"))
    named = (
        f"DELETE {{ GRAPH ?g {{ ?s ?p ?o }} }} INSERT {{ GRAPH ?g2 {{ ?s2 ?p ?o2 }} }} "
        f"WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER({touches}) {binds} }}"
    )
    default_touches = " || ".join(
        f"(isIRI(?{v}) && STRSTARTS(STR(?{v}), {ox.Literal(old)}))" for v in ("s", "o")
    )
    default = (
        f"DELETE {{ ?s ?p ?o }} INSERT {{ ?s2 ?p ?o2 }} WHERE {{ ?s ?p ?o FILTER({default_touches}) "
        f"{_rewritten('s', old, new)} {_rewritten('o', old, new)} }}"
    )
    marker = (
        f"DELETE WHERE {{ GRAPH {REGISTRY} {{ {REGISTRY} {BASE_URI} ?b }} }} ; "
        f"INSERT DATA {{ GRAPH {REGISTRY} {{ {REGISTRY} {BASE_URI} {ox.Literal(new)} }} }}"
    )
    return f"{named} ;\n{default} ;\n{marker}"


def rebase_store(store: Any, old: str, new: str) -> None:
    """Rewrite the store from ``old`` to ``new``; refuses a store not written under ``old``."""
    old, new = _base(old), _base(new)
    stored = stored_base(store)
    if stored is None:
        bases = _platform_bases(store)
        if bases and old not in bases:
            raise ValueError(
                f"the store holds no platform graphs under {old} (it has {', '.join(sorted(bases))})"
            )
    elif stored == new:
        return  # already done: rebase is safe to repeat after a failure part-way
    elif stored != old:
        raise ValueError(f"the store was written under {stored}, not {old}: nothing rewritten")
    store.update(rebase_update(old, new))
    if stored is None:
        adopt(store, new)
