"""Store reads shared between requests, valid for one generation of the triple store.

``TripleStore.generation`` (sparql/store.py) is bumped by every write, so a read
that does not depend on the caller (every entity of a kind with all its
versions) stays right until the store changes; each request still filters it
for its caller through ``resolvers.permissions``. Per process and per store; a
write in this process is seen at once. Only the embedded store is cached (see
:func:`generation_of`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from sparql.remote import RemoteTripleStore
from sparql.store import TripleStore

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def generation_of(store: Any) -> int | None:
    """The store's generation, or None when this process cannot know of every write (then nothing is cached).

    The embedded store is open in this process alone, so its own counter of writes serves; a remote SPARQL
    server (``WEBLAB_SPARQL_URL``) is written by every web server, so its generation is the deployment's,
    kept in Redis (``sparql/generation.py``). A remote store without one (a bare store in a script) is
    never cached.
    """
    inner = getattr(store, "inner", store)
    if isinstance(inner, TripleStore):
        return inner.generation
    if isinstance(inner, RemoteTripleStore) and inner.shared is not None:
        return inner.generation
    return None


class GenerationCache:
    """Values keyed by anything, forgotten as soon as the store's generation changes."""

    def __init__(self) -> None:
        self._generation = -1
        self._values: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def get(self, store: Any, key: Hashable, compute: Callable[[], T]) -> T:
        generation = generation_of(store)
        if generation is None:
            return compute()
        with self._lock:
            if generation != self._generation:
                self._values, self._generation = {}, generation
            if key in self._values:
                found: T = self._values[key]
                return found
        value = compute()
        with self._lock:
            if self._generation == generation == generation_of(store):  # nothing was written meanwhile
                self._values[key] = value
        return value

    def get_many(
        self, store: Any, keys: Sequence[K], compute: Callable[[list[K]], dict[K, T]]
    ) -> tuple[dict[K, T], bool]:
        """Values for ``keys``; those not cached are computed together (one call of ``compute`` with the missing
        keys, which must return a value for each). Also says whether ``compute`` was called."""
        generation = generation_of(store)
        if generation is None:
            return compute(list(dict.fromkeys(keys))), True
        with self._lock:
            if generation != self._generation:
                self._values, self._generation = {}, generation
            found = {k: self._values[k] for k in keys if k in self._values}
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if not missing:
            return found, False
        computed = compute(missing)
        with self._lock:
            if self._generation == generation == generation_of(store):
                self._values.update(computed)
        return {**found, **computed}, True


_PER_STORE: weakref.WeakKeyDictionary[Any, GenerationCache] = weakref.WeakKeyDictionary()


def store_cache(store: Any) -> GenerationCache:
    """The generation cache of a store (one per store object, gone with it)."""
    if store not in _PER_STORE:
        _PER_STORE[store] = GenerationCache()
    return _PER_STORE[store]
