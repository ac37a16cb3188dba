"""The root ``Query``: the caller, any node by id or URI, entity lists, users and ontology terms."""

from __future__ import annotations

from typing import Annotated

import strawberry

from ontology import search
from resolvers import accounts
from resolvers.errors import NotFound, ValidationError
from resolvers.metadata import Kind, Visibility
from schema.context import Info
from schema.types.entities import Dataset, Entity, Model, Protocol, entity_at, entity_connection, version_at
from schema.types.enums import KindEnum, VisibilityEnum
from schema.types.node import Node, node_uri
from schema.types.ontology import OntologyTerm
from schema.types.pagination import Connection
from schema.types.users import Me, User
from schema.types import runs as run_types


async def resolve_uri(info: Info, uri: str) -> Node | None:
    """Whatever the URI names, if the caller may see it; None otherwise (never says which)."""
    base = info.context.settings.base_uri.rstrip("/") + "/"
    if not uri.startswith(base):
        return None
    path = uri[len(base):].split("/")
    if len(path) == 2 and path[0] in ("models", "protocols", "datasets"):
        return await entity_at(info, uri)
    if len(path) == 4 and path[0] in ("models", "protocols", "datasets") and path[2] == "versions":
        return await version_at(info, uri)
    if len(path) == 2 and path[0] == "users":
        try:
            user = await accounts.get_user(info.context.services.db, path[1])
        except NotFound:
            return None
        return User.named(info, user.name)
    return await run_types.resolve_uri(info, path, uri)


_LIST_ARGS = "Newest first; filters combine (AND)."
_TERM = "Annotated (models) or used (protocols) ontology term: an IRI or 'oxmeta:name'."
_TEXT = "Words in the name, a version message or (models) an annotation term's IRI or label."


async def _list(info: Info, kinds: list[Kind], owner: str | None, visibility: Visibility | None, term: str | None,
                text: str | None, first: int | None, after: str | None, last: int | None,
                before: str | None) -> Connection:
    return await entity_connection(info, kinds=kinds, owner=owner, visibility=visibility, term=term, text=text,
                                   first=first, after=after, last=last, before=before)


@strawberry.type(description="Everything that can be read.")
class Query:
    @strawberry.field(description="The signed-in caller (null when anonymous).")
    def me(self, info: Info) -> Me | None:
        return Me(user_record=info.context.user) if info.context.user is not None else None

    @strawberry.field(description="Any object by global id (null if there is none you may see).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        try:
            uri = node_uri(info.context.settings.base_uri, id)
        except ValidationError:
            return None
        return await resolve_uri(info, uri)

    @strawberry.field(description="Several objects by global id, in order (null for each you may not see).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > info.context.limits.page_size:
            raise ValidationError("ids", f"asks for {len(ids)} nodes; at most {info.context.limits.page_size}")
        import asyncio

        return list(await asyncio.gather(*(self.node(info, i) for i in ids)))

    @strawberry.field(description="Any object by its resource URI (null if there is none you may see).")
    async def resource(self, info: Info, uri: str) -> Node | None:
        return await resolve_uri(info, uri)

    @strawberry.field(description="Models, protocols and datasets you may see. " + _LIST_ARGS)
    async def entities(
        self, info: Info, kind: KindEnum | None = None, owner: str | None = None,
        visibility: VisibilityEnum | None = None,
        term: Annotated[str | None, strawberry.argument(description=_TERM)] = None,
        text: Annotated[str | None, strawberry.argument(description=_TEXT)] = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[Entity]:
        return await _list(info, [kind] if kind else list(Kind), owner, visibility, term, text,
                           first, after, last, before)

    @strawberry.field(description="Models you may see. " + _LIST_ARGS)
    async def models(
        self, info: Info, owner: str | None = None, visibility: VisibilityEnum | None = None,
        term: str | None = None, text: str | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[Model]:
        return await _list(info, [Kind.MODEL], owner, visibility, term, text, first, after, last, before)

    @strawberry.field(description="Protocols you may see. " + _LIST_ARGS)
    async def protocols(
        self, info: Info, owner: str | None = None, visibility: VisibilityEnum | None = None,
        term: str | None = None, text: str | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[Protocol]:
        return await _list(info, [Kind.PROTOCOL], owner, visibility, term, text, first, after, last, before)

    @strawberry.field(description="Datasets you may see. " + _LIST_ARGS)
    async def datasets(
        self, info: Info, owner: str | None = None, visibility: VisibilityEnum | None = None,
        text: str | None = None,
        first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None,
    ) -> Connection[Dataset]:
        return await _list(info, [Kind.DATASET], owner, visibility, None, text, first, after, last, before)

    @strawberry.field(description="A user by name (null if there is none).")
    async def user(self, info: Info, name: str) -> User | None:
        try:
            found = await accounts.get_user(info.context.services.db, name)
        except NotFound:
            return None
        return User.named(info, found.name)

    @strawberry.field(description="Ontology terms whose IRI or label contains the text (case-insensitive).")
    def ontology_terms(self, info: Info, text: str) -> list[OntologyTerm]:
        found = search.find_terms(info.context.services.store, info.context.settings.base_uri, text, graphs=[])
        return [OntologyTerm(iri=t.iri) for t in found[: info.context.limits.page_size]]
