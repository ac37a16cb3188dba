"""The Relay ``Node`` interface; a node's global id is its resource URI's path under the base.

``models/beeler-1a2b`` names ``{BASE}models/beeler-1a2b``: readable, stable, and
the same identity RDF and linked-data pages use.
"""

from __future__ import annotations

from typing import Any

import strawberry

from resolvers.errors import ValidationError


def node_id(base_uri: str, uri: str) -> str:
    prefix = base_uri.rstrip("/") + "/"
    return uri.removeprefix(prefix)


def node_uri(base_uri: str, node_id: str) -> str:
    """The URI for a global id; an absolute URI under the base is accepted as it is."""
    prefix = base_uri.rstrip("/") + "/"
    if node_id.startswith(prefix):
        return node_id
    if "://" in node_id or node_id.startswith("/"):
        raise ValidationError("id", f"{node_id!r} is not a Weblab node id (a path like 'models/<id>')")
    return prefix + node_id


@strawberry.interface(description="Anything with a global id: refetch it with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id: the resource URI's path under the base URI.")
    uri: str = strawberry.field(
        description="The resource URI (dereferenceable: HTML for browsers, RDF for programs)."
    )

    @classmethod
    def resolve_type(cls, obj: Any, info: Any, abstract_type: Any) -> str:
        """Every object here is built as its concrete type: its name is the answer (strawberry's default
        tries casts and generics first, which is most of the cost of a list of 1,000 versions' entities)."""
        return obj.__strawberry_definition__.name
