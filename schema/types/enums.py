"""The enums the schema shares with resolvers/ (the same Python classes, exposed to GraphQL)."""

from __future__ import annotations

import strawberry

from resolvers.metadata import Kind, Visibility

KindEnum = strawberry.enum(Kind, name="Kind", description="The kind of an entity.")
VisibilityEnum = strawberry.enum(
    Visibility,
    name="Visibility",
    description="Who sees a version: private (owner, collaborators, admins), public (anyone), "
    "moderated (public and endorsed by a moderator).",
)
