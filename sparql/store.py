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

_WRITES = frozenset({"add", "add_graph", "bulk_extend", "bulk_load", "clear", "clear_graph", "extend", "load",
                     "remove", "remove_graph", "update"})


class _TrackedStore:
    """A pyoxigraph store that tells its :class:`TripleStore` when it is written to; otherwise the same."""

    def __init__(self, store: ox.Store, owner: TripleStore) -> None:
        self._store = store
        self._owner = owner

    def __getattr__(self, name: str):  # noqa: ANN204 - forwards pyoxigraph's API unchanged
        attribute = getattr(self._store, name)
        if name not in _WRITES:
            return attribute

        def write(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            try:
                return attribute(*args, **kwargs)
            finally:
                self._owner._changed()

        return write

    def __contains__(self, quad: object) -> bool:
        return quad in self._store

    def __iter__(self):  # noqa: ANN204
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)


class TripleStore:
    """The embedded Oxigraph store (on disk, or in memory when ``path`` is None)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._store = ox.Store(str(path))
        else:
            self._store = ox.Store()
        # Bumped by every write made through this class, so that readers holding the store open
        # read-only elsewhere (the SPARQL query workers) know to reopen it.
        self.generation = 0
        self._tracked = _TrackedStore(self._store, self)

    def _changed(self) -> None:
        self.generation += 1

    @property
    def oxigraph(self) -> ox.Store:
        """The underlying pyoxigraph store, for readers that need its full API.

        It is wrapped so that writes made through it still count as changes (``generation``),
        which is how the SPARQL query workers and caches learn that the store changed.
        """
        return self._tracked  # type: ignore[return-value]

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

    def update(self, update: str, *, base_iri: str | None = None) -> None:
        try:
            self._store.update(update, base_iri=base_iri)
        finally:
            self._changed()

    def replace_graph(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        """Write a named graph whole, in one transaction: readers see the old graph or the new one."""
        quads = [ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples]
        self.drop_graph(graph)
        self._store.add_graph(graph)
        self._store.extend(quads)
        self._changed()

    def add(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        self._store.extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples)
        self._changed()

    def add_to_default(self, triples: Iterable[ox.Triple]) -> None:
        """Add triples to the store's default graph (the one unmanaged writes without a graph name go to)."""
        self._store.extend(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples)
        self._changed()

    def clear_default(self) -> None:
        self._store.clear_graph(ox.DefaultGraph())
        self._changed()

    def default_triples(self) -> Iterator[ox.Triple]:
        for q in self._store.quads_for_pattern(None, None, None, ox.DefaultGraph()):
            yield ox.Triple(q.subject, q.predicate, q.object)

    def quads(self) -> Iterator[ox.Quad]:
        """Every quad in the store (for dumps)."""
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)

    def drop_graph(self, graph: ox.NamedNode) -> None:
        if self._store.contains_named_graph(graph):
            self._store.remove_graph(graph)
            self._changed()

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
        del self._tracked
        del self._store


def open_triple_store(store_dir: Path, sparql_url: str | None = None):  # noqa: ANN201 - either store class
    """The store the settings ask for: a remote SPARQL 1.1 server when ``sparql_url`` is set, else embedded."""
    if sparql_url:
        from sparql.remote import RemoteTripleStore

        return RemoteTripleStore(sparql_url)
    return TripleStore(store_dir)
