"""Turning a resolver call into a mutation result: the value, or the typed error it raised."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from resolvers.errors import WeblabError
from schema.types.errors import as_error

T = TypeVar("T")


async def attempt(call: Awaitable[T]) -> T | Any:
    """Await ``call``; a user-facing failure (``WeblabError``) comes back as its GraphQL error object."""
    try:
        return await call
    except WeblabError as exc:
        return as_error(exc)
