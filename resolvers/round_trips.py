"""Counting a request's round trips: each triple-store query and each database connection taken.

With ``settings.debug`` on, GraphQL answers carry the counts (``extensions.roundTrips``), which is how tests
prove that a page of 50 items costs what a page of 5 does. The counted services are the platform's,
wrapped; everything but the counting passes through.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from resolvers.services import Services
from resolvers.settings import Settings
from sparql.store import TripleStore


@dataclass
class RoundTrips:
    """How many times this request went to the triple store and to PostgreSQL."""

    store: int = 0
    db: int = 0


class CountingOxigraph:
    """A pyoxigraph store whose ``query`` calls are counted; everything else passes through."""

    def __init__(self, inner: Any, trips: RoundTrips) -> None:
        self._inner = inner
        self._trips = trips

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self._trips.store += 1
        return self._inner.query(*args, **kwargs)

    @property
    def inner(self) -> Any:
        """The store itself (what shared caches are kept for)."""
        return self._inner

    def count_cached(self, reads: int) -> None:
        """Reads answered from a shared cache (``resolvers/store_cache.py``) still count as reads asked for, so the
        count says how many reads a request needs, whether or not another request already made them."""
        self._trips.store += reads

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CountingStore(CountingOxigraph):
    """The platform's ``TripleStore`` with counted queries; ``.oxigraph`` is counted too."""

    @property
    def oxigraph(self) -> CountingOxigraph:
        return CountingOxigraph(self._inner.oxigraph, self._trips)


class CountingPool:
    """The database pool with counted ``connection()`` checkouts (one per SQL round trip in resolvers/)."""

    def __init__(self, inner: Any, trips: RoundTrips) -> None:
        self._inner = inner
        self._trips = trips

    @contextlib.asynccontextmanager
    async def connection(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self._trips.db += 1
        async with self._inner.connection(*args, **kwargs) as conn:
            yield conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def counted_services(services: Services, trips: RoundTrips, settings: Settings) -> Services:
    """``services`` whose store queries and database checkouts are added to ``trips``."""
    store: Any = CountingStore(services.store, trips)  # passes for a TripleStore: everything else forwards
    db: Any = CountingPool(services.db, trips)  # likewise for the pool
    return replace(services, settings=settings, store=store, db=db)


def shared_cache_key(store: TripleStore | CountingStore) -> TripleStore:
    """The store itself, under a counting wrapper or not (shared caches are kept per store)."""
    return store.inner if isinstance(store, CountingStore) else store


def count_cached(store: TripleStore | CountingStore, reads: int) -> None:
    if isinstance(store, CountingStore):
        store.count_cached(reads)
