"""Diagnostics in responses: with ``settings.debug``, ``extensions.roundTrips`` = store and database trips."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension


class RoundTrips(SchemaExtension):
    """Adds ``{"roundTrips": {"store": n, "db": m}}`` to the response extensions when debugging."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        trips = getattr(context, "trips", None)
        if trips is None or not context.settings.debug:
            return {}
        return {"roundTrips": {"store": trips.store, "db": trips.db}}
