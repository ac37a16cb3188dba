"""The one typed GraphQL context: the caller, the services (counted), the per-request loaders.

Every request gets its own :class:`Context`. The services it holds are the
platform's, wrapped so that each triple-store query (including those a shared
cache answers) and each database connection taken is counted: with ``settings.debug`` on, the counts are
returned in the response's ``extensions.roundTrips`` (see
``schema/extensions.py``), which is how tests prove that a page of 50 items
costs what a page of 5 does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from resolvers.accounts import User
from resolvers.entities import Entities
from resolvers.errors import Unauthenticated
from resolvers.services import Services
from resolvers.settings import Settings


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
        """Reads answered from a shared cache (``schema/caches.py``) still count as reads asked for, so the
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


@dataclass
class Context:
    """What every resolver gets as ``info.context``."""

    services: Services  # counted copy: use this, never app.state.services, so round trips are seen
    user: User | None
    request: Request | WebSocket
    response: Response | WebSocket | None
    trips: RoundTrips = field(default_factory=RoundTrips)
    loaders: Any = None  # resolvers.loaders.Loaders, set in build_context (import cycle otherwise)
    limits: Any = None  # schema.limits.Limits

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def entities(self) -> Entities:
        return self.loaders.entities

    def refresh(self) -> None:
        """Forget what this request has read: a mutation changed it (same counters, fresh caches)."""
        from resolvers.loaders import Loaders

        self.loaders = Loaders(self.services, self.user)

    def require_user(self) -> User:
        if self.user is None:
            raise Unauthenticated()
        return self.user


Info = StrawberryInfo[Context, None]


def build_context(services: Services, user: User | None, request: Request | WebSocket,
                  response: Response | WebSocket | None, settings: Settings | None = None) -> Context:
    """``settings`` (default: the services') are the app's, which may differ in diagnostics and limits."""
    from resolvers.loaders import Loaders
    from schema.limits import Limits

    trips = RoundTrips()
    counted = replace(services, settings=settings or services.settings, store=CountingStore(services.store, trips),
                      db=CountingPool(services.db, trips))
    ctx = Context(services=counted, user=user, request=request, response=response, trips=trips)
    ctx.loaders = Loaders(counted, user)
    ctx.limits = Limits.from_settings(counted.settings)
    return ctx
