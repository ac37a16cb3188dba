"""The GraphQL schema: types, root operations, and the limits and caches every request goes through.

``build_schema(limits)`` is what the route serves (limits from settings);
``schema`` (default limits) is what ``schema/schema.graphql`` is exported from:
``python -m schema.schema > schema/schema.graphql`` (a test fails when it is stale).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from resolvers.errors import WeblabError
from resolvers.store_cache import generation_of
from schema.caches import CachedResult, ResponseCache, only_queries
from schema.extensions import RoundTrips
from schema.limits import CostLimit, Limits, StringLimit, string_error
from schema.mutations import Mutation
from schema.queries import Query
from schema.subscriptions import Subscription
from schema.types.entities import Dataset, Model, Protocol, Version
from schema.types.errors import ERROR_TYPES
from schema.types.runs import Experiment, Run
from schema.types.users import User


def is_internal(error: GraphQLError) -> bool:
    """A bug (not a user's mistake, not a request refused by validation): its details stay in the server log."""
    original = error.original_error
    return original is not None and not isinstance(original, WeblabError | GraphQLError)


class WeblabSchema(strawberry.Schema):
    """Logs only internal errors: a user's bad query or a refused action is an answer, not an incident.

    Answers anonymous read-only queries that read nothing from PostgreSQL from a
    :class:`ResponseCache` while the store is unchanged (``schema/caches.py``).
    """

    def __init__(
        self, *args: Any, response_cache: int = 256, limits: Limits | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.responses = ResponseCache(response_cache)
        self.limits = limits or Limits()

    def _cheap_to_parse(self, query: str, variables: dict[str, Any] | None) -> bool:
        """Within the document and string limits (which ``StringLimit`` reports): only then is the document
        parsed here, for the response cache, ahead of the extensions."""
        limits = self.limits
        return (
            len(query) <= limits.document_length
            and string_error(query, variables, limits.string_length, max_strings=limits.tokens) is None
        )

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        **kwargs: Any,
    ) -> ExecutionResult:
        key = None
        store = getattr(getattr(context_value, "services", None), "store", None)
        if (
            query is not None
            and store is not None
            and getattr(context_value, "user", True) is None
            and self.responses.maxsize > 0
            and not kwargs.get("operation_extensions")
            and self._cheap_to_parse(query, variable_values)
            and only_queries(query, max_tokens=self.limits.tokens)
        ):
            key = ResponseCache.key(query, variable_values, operation_name)
        generation = generation_of(store)
        if generation is None:
            key = None
        if key is not None and (found := self.responses.get(generation, key)) is not None:
            return found
        result = await super().execute(
            query, variable_values, context_value, root_value, operation_name, **kwargs
        )
        if (
            key is not None
            and not result.errors
            and context_value.trips.db == 0
            and generation_of(store) == generation
        ):
            extensions = result.extensions
            if context_value.settings.debug:  # hits say that they are
                extensions = {**(extensions or {}), "responseCache": "hit"}
            self.responses.put(generation, key, CachedResult(result.data, result.errors, extensions))
        return result

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        super().process_errors([e for e in errors if is_internal(e)], execution_context)

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        """As strawberry's (subscriptions over WebSocket), but an operation the limits refuse before parsing
        (``StringLimit``) is answered with the error, as an invalid one is, not by failing the socket's task."""
        return _refusals_as_errors(await super().stream(*args, **kwargs))


async def _refusals_as_errors(source: Any) -> AsyncIterator[Any]:
    started = False
    try:
        async with aclosing(source):
            async for result in source:
                started = True
                yield result
    except GraphQLError as error:
        if started:
            raise
        yield PreExecutionError(data=None, errors=[error])


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    limits = limits or Limits()
    return WeblabSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Model, Protocol, Dataset, Version, User, Run, Experiment, *ERROR_TYPES],
        # factories: a fresh extension per request; the parse and validation caches are shared by maxsize
        limits=limits,
        extensions=[
            lambda: StringLimit(limits),  # first, and before parsing: huge documents are refused unparsed
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            lambda: QueryDepthLimiter(max_depth=limits.depth),
            lambda: MaxAliasesLimiter(max_alias_count=limits.aliases),
            lambda: MaxTokensLimiter(max_token_count=limits.tokens),
            lambda: CostLimit(limits),  # after ValidationCache: it needs the validated document
            RoundTrips,
            lambda: MaskErrors(
                should_mask_error=is_internal, error_message="internal error (it is logged); please report it"
            ),
        ],
    )


schema = build_schema()


def sdl() -> str:
    """The schema as SDL, as committed in ``schema/schema.graphql``."""
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
