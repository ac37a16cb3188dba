"""Which graphs a caller's query runs over, and which graphs nobody may write through SPARQL.

The platform manages every named graph under ``{BASE}models/``,
``{BASE}protocols/``, ``{BASE}datasets/``, ``{BASE}runs/``,
``{BASE}experiments/``, ``{BASE}ontologies/`` and ``{BASE}users/``; those are
written only by the platform's own services, and read according to the
caller's permissions (the ``graph_scope`` callable, in production
``resolvers.permissions.visible_graphs``).

Every other graph — the store's default graph and named graphs an admin
creates through SPARQL Update or the Graph Store protocol — is *unmanaged*
and public: anyone may read it, admins may write it. (Admins use these for
shared reference data; nothing private belongs there.)

The dataset of a query is therefore: the visible managed graphs, plus all
unmanaged graphs, plus the default graph; when the caller can see every
graph in the store, Oxigraph's union default graph is used instead of an
explicit list, which is much faster on stores with many graphs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyoxigraph as ox

MANAGED_AREAS = ("models/", "protocols/", "datasets/", "runs/", "experiments/", "ontologies/", "users/")

GraphScope = Callable[[Any], Awaitable[list[ox.NamedNode]]]
"""``async (caller) -> visible named graphs``; caller is a user object or None for anonymous."""


def managed_prefixes(base_uri: str) -> tuple[str, ...]:
    base = base_uri.rstrip("/") + "/"
    return tuple(base + area for area in MANAGED_AREAS)


def is_managed(iri: str, prefixes: tuple[str, ...]) -> bool:
    return iri.startswith(prefixes)


@dataclass(frozen=True)
class Dataset:
    """The dataset one query runs on, as graph IRIs ("" is the store's default graph).

    ``union`` means: every graph, the fast way (the caller sees everything).
    """

    union: bool
    default_graph: list[str] | None
    named_graphs: list[str] | None

    def job(self) -> dict:
        return {"union": self.union, "default_graph": self.default_graph, "named_graphs": self.named_graphs}


@dataclass(frozen=True)
class Visible:
    """What one caller may read: a membership test plus the full list, built once per request."""

    named: frozenset[str]  # every readable named graph (managed and unmanaged)
    everything: bool  # no graph in the store is hidden from this caller
    prefixes: tuple[str, ...]

    def allows(self, iri: str) -> bool:
        """May the caller read graph ``iri``? Unmanaged IRIs (existing or not) are public."""
        return iri in self.named or not is_managed(iri, self.prefixes)

    def whole(self) -> Dataset:
        if self.everything:
            return Dataset(True, None, None)
        return Dataset(False, ["", *sorted(self.named)], sorted(self.named))

    def restrict(self, default_graph: Iterable[str], named_graphs: Iterable[str]) -> Dataset:
        """A dataset the caller named (protocol parameters or FROM), minus what they may not read.

        A graph they may not read is dropped silently, exactly as a graph that does not exist
        would give no triples: the answer must not reveal which one it was.
        """
        return Dataset(False, [g for g in default_graph if self.allows(g)], [g for g in named_graphs if self.allows(g)])


def visible(all_named: Iterable[str], visible_managed: Iterable[str], prefixes: tuple[str, ...]) -> Visible:
    all_named = list(all_named)
    readable = {g for g in all_named if not is_managed(g, prefixes)}
    readable.update(g for g in visible_managed if is_managed(g, prefixes))
    everything = all(g in readable for g in all_named)
    return Visible(frozenset(readable), everything, prefixes)
