"""Which graphs a caller's query runs over, and which graphs nobody may write through SPARQL.

Every named graph is the platform's (*managed*) unless the registry
(:mod:`sparql.registry`) says an admin made it: managed graphs are written only
by the platform's own services and read according to the caller's permissions
(the ``graph_scope`` callable, in production ``resolvers.permissions.visible_graphs``).
A graph's name decides nothing, so a store opened under another base URI, or a
graph written to a remote store behind the platform's back, stays hidden.

Admins' graphs (made through SPARQL Update or the Graph Store protocol) and the
store's default graph are *unmanaged* and public: anyone may read them, admins
may write them. (Admins use these for shared reference data; nothing private
belongs there.) A graph that does not exist yet reads as empty; one under the
base's platform areas (``{BASE}models/`` …) may never be created by an admin.

The dataset of a query is therefore: the visible managed graphs, plus all
unmanaged graphs, plus the default graph; when the caller can see every
graph in the store, Oxigraph's union default graph is used instead of an
explicit list, which is much faster on stores with many graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox

from sparql.registry import REGISTRY

GraphScope = Callable[[Any], Coroutine[Any, Any, list[ox.NamedNode]]]
"""``async (caller) -> visible named graphs``; caller is a user object or None for anonymous."""


@dataclass(frozen=True)
class Dataset:
    """The dataset one query runs on, as graph IRIs ("" is the store's default graph).

    ``union`` means: every graph, the fast way (the caller sees everything).
    """

    union: bool
    default_graph: list[str] | None
    named_graphs: list[str] | None

    def job(self) -> dict[str, Any]:
        return {"union": self.union, "default_graph": self.default_graph, "named_graphs": self.named_graphs}


@dataclass(frozen=True)
class Visible:
    """What one caller may read: a membership test plus the full list, built once per request."""

    named: frozenset[str]  # every readable named graph (managed and unmanaged)
    everything: bool  # no graph in the store is hidden from this caller
    existing: frozenset[str]  # every named graph in the store
    prefixes: tuple[str, ...]  # the platform's areas: a graph there is the platform's even before it exists

    def allows(self, iri: str) -> bool:
        """May the caller read graph ``iri``? Readable graphs, and names that are nobody's yet (they read empty)."""
        return iri in self.named or (iri not in self.existing and not iri.startswith(self.prefixes))

    def whole(self) -> Dataset:
        if self.everything:
            return Dataset(True, None, None)
        return Dataset(False, ["", *sorted(self.named)], sorted(self.named))

    def restrict(self, default_graph: Iterable[str], named_graphs: Iterable[str]) -> Dataset:
        """A dataset the caller named (protocol parameters or FROM), minus what they may not read.

        A graph they may not read is dropped silently, exactly as a graph that does not exist
        would give no triples: the answer must not reveal which one it was.
        """
        return Dataset(
            False, [g for g in default_graph if self.allows(g)], [g for g in named_graphs if self.allows(g)]
        )


def visible(
    all_named: Iterable[str], visible_managed: Iterable[str], admin: Iterable[str], prefixes: tuple[str, ...]
) -> Visible:
    """``admin``: the graphs the registry says admins made; ``visible_managed``: the platform's the caller sees."""
    existing = frozenset(all_named)
    # The registry itself is public: it names admins' graphs (public anyway) and the base URI.
    readable = existing & (frozenset(admin) | frozenset(visible_managed) | {REGISTRY.value})
    return Visible(readable, readable == existing, existing, prefixes)
