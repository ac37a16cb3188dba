"""Relay cursor connections with keyset cursors.

A cursor encodes the item's sort key (not its offset), so a page stays right
when items are added or removed before it. Lists are ordered by a stable key
(newest first, then URI) and cut here; ``first``/``last`` are capped by the
configured maximum page size, and asking for more is an error that says the cap.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.errors import ValidationError

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow the last one of this page.")
    has_previous_page: bool = strawberry.field(
        description="More items come before the first one of this page."
    )
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first item (null on an empty page)."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item: pass it as `after` for the next page."
    )


@strawberry.type(description="One item of a page and its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque position of this item (keyset: survives inserts and deletes)."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list (Relay cursor connection).")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with their cursors.")
    page_info: PageInfo = strawberry.field(
        description="Whether there are more pages, and the cursors to get them."
    )
    total_count: int = strawberry.field(
        description="How many items the whole list holds (only those visible to you)."
    )

    @strawberry.field(description="The items of this page without cursors.")
    def nodes(self) -> list[T]:
        return [e.node for e in self.edges]


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, argument: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(argument, "is not a cursor returned by this API") from None
    if not isinstance(key, list):
        raise ValidationError(argument, "is not a cursor returned by this API")
    return key


def check_page_size(first: int | None, last: int | None, maximum: int) -> None:
    for name, value in (("first", first), ("last", last)):
        if value is not None and value < 0:
            raise ValidationError(name, "must not be negative")
        if value is not None and value > maximum:
            raise ValidationError(name, f"asks for {value} items; a page holds at most {maximum}")


def paginate(
    items: Sequence[T],
    key: Callable[[T], Sequence[Any]],
    wrap: Callable[[T], Any],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    maximum: int,
) -> Connection[Any]:
    """Cut ``items`` (already in order: ascending by ``key``) into the page the Relay arguments ask for."""
    check_page_size(first, last, maximum)
    keyed = [(list(key(i)), i) for i in items]
    start, end = 0, len(keyed)
    if after is not None:
        k = decode_cursor(after, "after")
        start = next((n for n, (ik, _) in enumerate(keyed) if ik > k), len(keyed))
    if before is not None:
        k = decode_cursor(before, "before")
        end = next((n for n, (ik, _) in enumerate(keyed) if ik >= k), len(keyed))
    end = max(start, end)
    window = keyed[start:end]
    if first is None and last is None:
        first = min(DEFAULT_PAGE_SIZE, maximum)
    has_next = end < len(keyed)
    has_previous = start > 0
    if first is not None and len(window) > first:
        window, has_next = window[:first], True
    if last is not None and len(window) > last:
        window, has_previous = window[len(window) - last :], True
    edges = [Edge(cursor=encode_cursor(k), node=wrap(i)) for k, i in window]
    return Connection(
        edges=edges,
        total_count=len(keyed),
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
