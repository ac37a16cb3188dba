"""The one typed GraphQL context: the caller, the services (counted), the per-request loaders.

Every request gets its own :class:`Context`. The services it holds are the
platform's, wrapped so that each triple-store query (including those a shared
cache answers) and each database connection taken is counted
(``resolvers/round_trips.py``; returned with ``settings.debug`` on, see
``schema/extensions.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from resolvers.accounts import User
from resolvers.entities import Entities
from resolvers.errors import Unauthenticated
from resolvers.loaders import Loaders
from resolvers.round_trips import RoundTrips, counted_services
from resolvers.services import Services
from resolvers.settings import Settings
from schema.limits import Limits


@dataclass
class Context:
    """What every resolver gets as ``info.context``."""

    services: Services  # counted copy: use this, never app.state.services, so round trips are seen
    user: User | None
    request: Request | WebSocket
    response: Response | WebSocket | None
    loaders: Loaders
    limits: Limits
    trips: RoundTrips = field(default_factory=RoundTrips)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def entities(self) -> Entities:
        return self.loaders.entities

    def refresh(self) -> None:
        """Forget what this request has read: a mutation changed it (same counters, fresh caches)."""
        self.loaders = Loaders(self.services, self.user)

    def require_user(self) -> User:
        if self.user is None:
            raise Unauthenticated()
        return self.user


Info = StrawberryInfo[Context, None]


def build_context(
    services: Services,
    user: User | None,
    request: Request | WebSocket,
    response: Response | WebSocket | None,
    settings: Settings | None = None,
) -> Context:
    """``settings`` (default: the services') are the app's, which may differ in diagnostics and limits."""
    trips = RoundTrips()
    counted = counted_services(services, trips, settings or services.settings)
    return Context(
        services=counted,
        user=user,
        request=request,
        response=response,
        loaders=Loaders(counted, user),
        limits=Limits.from_settings(counted.settings),
        trips=trips,
    )
