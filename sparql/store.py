"""The triple store the platform writes to and reads from.

Everything the platform knows as linked data goes through :class:`TripleStore`,
so that the embedded Oxigraph store and a remote SPARQL 1.1 server are
interchangeable. User-supplied values are always passed as RDF terms
(``substitutions``), never pasted into query text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyoxigraph as ox


class TripleStore:
    """The embedded Oxigraph store (on disk, or in memory when ``path`` is None)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._store = ox.Store(str(path))
        else:
            self._store = ox.Store()

    @property
    def oxigraph(self) -> ox.Store:
        """The underlying pyoxigraph store, for readers that need its full API."""
        return self._store

    def query(self, query: str, *, substitutions: dict[ox.Variable, ox.NamedNode | ox.Literal | ox.BlankNode] | None = None,
              default_graph: list[ox.NamedNode] | None = None, named_graphs: list[ox.NamedNode] | None = None,
              use_default_graph_as_union: bool = False):  # noqa: ANN201 - pyoxigraph's result types
        return self._store.query(
            query,
            substitutions=substitutions,
            default_graph=default_graph,
            named_graphs=named_graphs,
            use_default_graph_as_union=use_default_graph_as_union,
        )

    def update(self, update: str) -> None:
        self._store.update(update)

    def replace_graph(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        """Write a named graph whole, in one transaction: readers see the old graph or the new one."""
        quads = [ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples]
        self.drop_graph(graph)
        self._store.add_graph(graph)
        self._store.extend(quads)

    def add(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        self._store.extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples)

    def drop_graph(self, graph: ox.NamedNode) -> None:
        if self._store.contains_named_graph(graph):
            self._store.remove_graph(graph)

    def has_graph(self, graph: ox.NamedNode) -> bool:
        return self._store.contains_named_graph(graph)

    def triples(self, graph: ox.NamedNode) -> Iterator[ox.Triple]:
        for q in self._store.quads_for_pattern(None, None, None, graph):
            yield ox.Triple(q.subject, q.predicate, q.object)

    def named_graphs(self) -> Iterator[ox.NamedNode]:
        for g in self._store.named_graphs():
            if isinstance(g, ox.NamedNode):
                yield g

    def flush(self) -> None:
        if self.path is not None:
            self._store.flush()

    def close(self) -> None:
        self.flush()
        del self._store
