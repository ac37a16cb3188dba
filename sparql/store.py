"""The triple store the platform writes to and reads from.

Everything the platform knows as linked data goes through :class:`TripleStore`,
so that the embedded Oxigraph store and a remote SPARQL 1.1 server are
interchangeable. User-supplied values are always passed as RDF terms
(``substitutions``), never pasted into query text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyoxigraph as ox

if TYPE_CHECKING:
    from sparql.remote import RemoteTripleStore  # which imports this module

# Values for a query's variables (pyoxigraph's ``substitutions``), as both stores take them.
Substitutions = Mapping[ox.Variable, ox.NamedNode | ox.BlankNode | ox.Literal | ox.Triple]

_ALL = None  # "every graph may have changed"


def _graph_key(graph: object) -> str:
    """How changes name a graph: its IRI, or "" for the default graph (blank-node graphs count as "")."""
    return graph.value if isinstance(graph, ox.NamedNode) else ""


def quads_as_data(quads: Iterable[ox.Quad]) -> str:
    """Quads as the body of INSERT DATA / DELETE DATA (terms written by pyoxigraph, never as raw text)."""
    by_graph: dict[str, list[str]] = {}
    for q in quads:
        graph = "" if isinstance(q.graph_name, ox.DefaultGraph) else str(q.graph_name)
        by_graph.setdefault(graph, []).append(f"{q.subject} {q.predicate} {q.object} .")
    return " ".join(" ".join(t) if not g else f"GRAPH {g} {{ {' '.join(t)} }}" for g, t in by_graph.items())


def swap_update(old: ox.Quad, new: ox.Quad) -> str:
    """The SPARQL Update that takes ``old`` out and puts ``new`` in: one request, one transaction."""
    return f"DELETE DATA {{ {quads_as_data([old])} }} ; INSERT DATA {{ {quads_as_data([new])} }}"


class _TrackedStore:
    """A pyoxigraph store that tells its :class:`TripleStore` which graphs are written; otherwise the same.

    Readers elsewhere (the SPARQL query workers, the public mirror) learn from this that
    the store changed, and where. A write whose graphs cannot be known cheaply (a SPARQL
    update, a load into a dataset, ``clear``) counts as changing every graph.
    """

    def __init__(self, store: ox.Store, owner: TripleStore) -> None:
        self._store = store
        self._owner = owner

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - forwards pyoxigraph's API unchanged
        return getattr(self._store, name)

    def _tap(self, quads: Iterable[ox.Quad], seen: set[str]) -> Iterator[ox.Quad]:
        for quad in quads:
            seen.add(_graph_key(quad.graph_name))
            yield quad

    def add(self, quad: ox.Quad) -> None:
        try:
            self._store.add(quad)
        finally:
            self._owner._changed({_graph_key(quad.graph_name)})

    def remove(self, quad: ox.Quad) -> None:
        try:
            self._store.remove(quad)
        finally:
            self._owner._changed({_graph_key(quad.graph_name)})

    def swap(self, old: ox.Quad, new: ox.Quad) -> None:
        """``old`` out and ``new`` in, in one transaction: no reader, and no crash, sees one without the other
        (a version's visibility must never be missing, even for a moment)."""
        try:
            self._store.update(swap_update(old, new))
        finally:
            self._owner._changed({_graph_key(old.graph_name), _graph_key(new.graph_name)})

    def extend(self, quads: Iterable[ox.Quad]) -> None:
        seen: set[str] = set()
        try:
            self._store.extend(self._tap(quads, seen))
        finally:
            self._owner._changed(seen)

    def bulk_extend(self, quads: Iterable[ox.Quad]) -> None:
        seen: set[str] = set()
        try:
            self._store.bulk_extend(self._tap(quads, seen))
        finally:
            self._owner._changed(seen)

    def add_graph(self, graph: ox.NamedNode) -> None:
        try:
            self._store.add_graph(graph)
        finally:
            self._owner._changed({_graph_key(graph)})

    def remove_graph(self, graph: ox.NamedNode) -> None:
        try:
            self._store.remove_graph(graph)
        finally:
            self._owner._changed({_graph_key(graph)})

    def clear_graph(self, graph: ox.NamedNode | ox.DefaultGraph) -> None:
        try:
            self._store.clear_graph(graph)
        finally:
            self._owner._changed({_graph_key(graph)})

    def _unknown(self, name: str, *args: object, **kwargs: object) -> object:
        try:
            return getattr(self._store, name)(*args, **kwargs)
        finally:
            to_graph = kwargs.get("to_graph")
            self._owner._changed({_graph_key(to_graph)} if to_graph is not None else _ALL)

    def load(self, *args: object, **kwargs: object) -> None:
        self._unknown("load", *args, **kwargs)

    def bulk_load(self, *args: object, **kwargs: object) -> None:
        self._unknown("bulk_load", *args, **kwargs)

    def update(self, *args: object, **kwargs: object) -> None:
        self._unknown("update", *args, **kwargs)

    def clear(self) -> None:
        self._unknown("clear")

    def __contains__(self, quad: object) -> bool:
        return quad in self._store

    def __iter__(self) -> Iterator[ox.Quad]:
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
        # Bumped by every write, with the graphs written, so that readers holding the store open
        # elsewhere (the SPARQL query workers, the public mirror) know to catch up, and where.
        self.generation = 0
        self._changes: set[str] | None = set()
        self._lock = threading.Lock()
        self._tracked = _TrackedStore(self._store, self)

    def _changed(self, graphs: Iterable[str] | None = _ALL) -> None:
        with self._lock:
            self.generation += 1
            if graphs is None or self._changes is None:
                self._changes = None
            else:
                self._changes.update(graphs)

    def take_changes(self) -> tuple[set[str] | None, int]:
        """The graphs written since the last call (None: possibly all), and the generation they bring us to."""
        with self._lock:
            changes, self._changes = self._changes, set()
            return changes, self.generation

    @property
    def oxigraph(self) -> ox.Store:
        """The underlying pyoxigraph store, for readers that need its full API.

        It is wrapped so that writes made through it still count as changes (``generation``),
        which is how the SPARQL query workers and caches learn that the store changed.
        """
        return self._tracked  # type: ignore[return-value]

    def query(
        self,
        query: str,
        *,
        substitutions: Substitutions | None = None,
        default_graph: Sequence[ox.NamedNode] | None = None,
        named_graphs: Sequence[ox.NamedNode] | None = None,
        use_default_graph_as_union: bool = False,
    ) -> ox.QuerySolutions | ox.QueryBoolean | ox.QueryTriples:
        return self._store.query(
            query,
            substitutions=None if substitutions is None else {**substitutions},
            default_graph=None if default_graph is None else [*default_graph],
            named_graphs=None if named_graphs is None else [*named_graphs],
            use_default_graph_as_union=use_default_graph_as_union,
        )

    def update(self, update: str, *, base_iri: str | None = None) -> None:
        try:
            self._store.update(update, base_iri=base_iri)
        finally:
            self._changed(_ALL)

    def replace_graph(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        """Write a named graph whole, in one transaction: readers see the old graph or the new one."""
        quads = [ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples]
        self.drop_graph(graph)
        self._store.add_graph(graph)
        self._store.extend(quads)
        self._changed({graph.value})

    def add(self, graph: ox.NamedNode, triples: Iterable[ox.Triple]) -> None:
        self._store.extend(ox.Quad(t.subject, t.predicate, t.object, graph) for t in triples)
        self._changed({graph.value})

    def add_to_default(self, triples: Iterable[ox.Triple]) -> None:
        """Add triples to the store's default graph (the one unmanaged writes without a graph name go to)."""
        self._store.extend(ox.Quad(t.subject, t.predicate, t.object, ox.DefaultGraph()) for t in triples)
        self._changed({""})

    def clear_default(self) -> None:
        self._store.clear_graph(ox.DefaultGraph())
        self._changed({""})

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
            self._changed({graph.value})

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

    async def aclose(self) -> None:
        """As :meth:`close` (the remote store has connections of the event loop's to close as well)."""
        self.close()


def open_triple_store(store_dir: Path, sparql_url: str | None = None) -> TripleStore | RemoteTripleStore:
    """The store the settings ask for: a remote SPARQL 1.1 server when ``sparql_url`` is set, else embedded."""
    if sparql_url:
        from sparql.remote import RemoteTripleStore

        return RemoteTripleStore(sparql_url)
    return TripleStore(store_dir)


def select(store: ox.Store, query: str, **options: Any) -> ox.QuerySolutions:
    """The solutions of a SELECT query (pyoxigraph's ``query`` is typed for every query form)."""
    answer = store.query(query, **options)
    if not isinstance(answer, ox.QuerySolutions):
        raise TypeError(f"not a SELECT query: {query[:80]!r}")
    return answer
