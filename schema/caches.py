"""Caches shared between requests, valid for one generation of the triple store.

``TripleStore.generation`` (sparql/store.py) is bumped by every write, so
anything computed only from the store's content stays right until it changes:

- ``resolvers.store_cache`` holds store reads that do not depend on the caller
  (every entity of a kind with all its versions); each request still filters
  them for its caller through ``resolvers.permissions``.
- :class:`ResponseCache` holds whole answers to anonymous read-only queries
  that read nothing from PostgreSQL (no runs, no users, no grants): those depend
  only on the store's content, the document and its variables. A popular public
  page (the models list with its compatibility) is then computed once per
  change instead of once per request.

Both are per process and per store; a write in this process is seen at once.
Only the embedded store is cached (see ``resolvers.store_cache.generation_of``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.types import ExecutionResult


@lru_cache(maxsize=512)
def only_queries(document: str, max_tokens: int | None = None) -> bool:
    """True when every operation of the document is a query (no mutation, no subscription).

    ``max_tokens`` (the GraphQL token limit): a longer document is not parsed to its end (it is refused anyway).
    """
    try:
        parsed = parse(document, max_tokens=max_tokens)
    except GraphQLError:
        return False
    ops = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    return bool(ops) and all(op.operation is OperationType.QUERY for op in ops)


@dataclass
class CachedResult(ExecutionResult):
    """A cached answer, and its JSON once the first hit has encoded it: on a big page, encoding the answer
    again for every hit would cost more than everything else a hit does (``web/routes/graphql.py``)."""

    encoded: bytes | None = field(default=None, compare=False, repr=False)


class ResponseCache:
    """Answers to anonymous, read-only, database-free queries, for the store generation they were computed in."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._generation = -1
        self._answers: OrderedDict[tuple[str, str, str | None], Any] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(
        query: str, variables: dict[str, Any] | None, operation: str | None
    ) -> tuple[str, str, str | None] | None:
        try:
            encoded = json.dumps(variables or {}, sort_keys=True)
        except (TypeError, ValueError):
            return None  # uploads and other non-JSON values: not cacheable
        return (query, encoded, operation)

    def get(self, generation: int, key: tuple[str, str, str | None]) -> CachedResult | None:
        with self._lock:
            if generation != self._generation:
                self._answers.clear()
                self._generation = generation
                return None
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
            return found

    def put(self, generation: int, key: tuple[str, str, str | None], answer: CachedResult) -> None:
        with self._lock:
            if generation != self._generation or self.maxsize <= 0:
                return
            self._answers[key] = answer
            while len(self._answers) > self.maxsize:
                self._answers.popitem(last=False)
