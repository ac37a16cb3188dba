"""The root ``Query``: the caller, any node by id or URI, entity lists, users and ontology terms."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from ontology import search
from resolvers import accounts
from resolvers.errors import NotFound, ValidationError
from resolvers.metadata import Kind, Visibility
from schema.context import Info
from schema.types import runs as run_types
from schema.types.entities import (
    Dataset,
    Entity,
    Model,
    Protocol,
    entity_at,
    entity_connection,
    matching_entities,
    version_at,
)
from schema.types.enums import KindEnum, VisibilityEnum
from schema.types.node import Node, node_uri
from schema.types.ontology import OntologyTerm
from schema.types.pagination import Connection
from schema.types.users import Me, User


async def resolve_uri(info: Info, uri: str) -> Node | None:
    """Whatever the URI names, if the caller may see it; None otherwise (never says which)."""
    base = info.context.settings.base_uri.rstrip("/") + "/"
    if not uri.startswith(base):
        return None
    path = uri[len(base) :].split("/")
    if len(path) == 2 and path[0] in ("models", "protocols", "datasets"):
        return await entity_at(info, uri)
    if len(path) == 4 and path[0] in ("models", "protocols", "datasets") and path[2] == "versions":
        return await version_at(info, uri)
    if len(path) == 2 and path[0] == "users":
        return await visible_user(info, path[1])
    return await run_types.resolve_uri(info, path, uri)


async def visible_user(info: Info, name: str) -> User | None:
    """The account, to itself or to a caller who may see something it owns; None otherwise, so that no
    query (``user``, ``node``, ``resource``) tells whether an account of that name exists."""
    caller = info.context.user
    if caller is None or caller.name != name:
        loaders = info.context.loaders
        visible = await asyncio.gather(*(loaders.visible_entities(kind) for kind in Kind))
        if not any(e.owner == name for entities in visible for e in entities):
            return None
    try:
        found = await accounts.get_user(info.context.services.db, name)
    except NotFound:
        return None
    return User.named(info, found.name)


async def _version_pairs(
    info: Info,
    ids: list[strawberry.ID] | None,
    kind: Kind,
    argument: str,
    owner: str | None = None,
    visibility: Visibility | None = None,
) -> list[tuple]:
    """(entity, version) for each id you may see: a version id, or an entity id meaning its newest version;
    when ``ids`` is None, the newest versions of the visible entities (of ``owner``, with a version of
    ``visibility``, if given), by name, at most a page."""
    loaders = info.context.loaders
    cap = info.context.limits.page_size
    if ids is None:
        entities = await loaders.visible_entities(kind)
        if owner is not None:
            entities = [e for e in entities if e.owner == owner]
        if visibility is not None:
            entities = await matching_entities(info, entities, visibility=visibility, term=None, text=None)
        entities = sorted(entities, key=lambda e: (e.name.casefold(), e.uri))[:cap]
        latest = await asyncio.gather(*(loaders.latest_visible(e) for e in entities))
        return [(e, v) for e, v in zip(entities, latest, strict=True) if v is not None]
    if len(ids) > cap:
        raise ValidationError(argument, f"asks for {len(ids)} {kind.value}s; at most {cap}")

    async def one(id: str) -> tuple | None:
        try:
            uri = node_uri(info.context.settings.base_uri, id)
        except ValidationError:
            return None
        if f"/{kind.segment}/" not in uri:
            raise ValidationError(argument, f"{id!r} is not a {kind.value}")
        if "/versions/" in uri:
            return await loaders.visible_version(uri)
        entity = await loaders.visible_entity(uri)
        latest = await loaders.latest_visible(entity) if entity is not None else None
        return (entity, latest) if latest is not None else None

    found = await asyncio.gather(*(one(i) for i in ids))
    return [f for f in found if f is not None]


async def node_by_id(info: Info, id: str) -> Node | None:
    try:
        uri = node_uri(info.context.settings.base_uri, id)
    except ValidationError:
        return None
    return await resolve_uri(info, uri)


_LIST_ARGS = "Newest first; filters combine (AND)."
_TERM = "Annotated (models) or used (protocols) ontology term: an IRI or 'oxmeta:name'."
_TEXT = "Words in the name, a version message or (models) an annotation term's IRI or label."


async def _list(
    info: Info,
    kinds: list[Kind],
    owner: str | None,
    visibility: Visibility | None,
    term: str | None,
    text: str | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection:
    return await entity_connection(
        info,
        kinds=kinds,
        owner=owner,
        visibility=visibility,
        term=term,
        text=text,
        first=first,
        after=after,
        last=last,
        before=before,
    )


@strawberry.type(
    description="How many things you may see (private things count only for those who may see them)."
)
class Counts:
    @strawberry.field(description="Models you may see.")
    async def models(self, info: Info) -> int:
        return len(await info.context.loaders.visible_entities(Kind.MODEL))

    @strawberry.field(description="Protocols you may see.")
    async def protocols(self, info: Info) -> int:
        return len(await info.context.loaders.visible_entities(Kind.PROTOCOL))

    @strawberry.field(description="Datasets you may see.")
    async def datasets(self, info: Info) -> int:
        return len(await info.context.loaders.visible_entities(Kind.DATASET))

    @strawberry.field(description="Runs you may see (both of their versions visible to you).")
    async def runs(self, info: Info) -> int:
        return await run_types.count_runs(info)


@strawberry.type(description="Everything that can be read.")
class Query:
    @strawberry.field(description="The signed-in caller (null when anonymous).")
    def me(self, info: Info) -> Me | None:
        return Me(user_record=info.context.user) if info.context.user is not None else None

    @strawberry.field(description="Any object by global id (null if there is none you may see).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await node_by_id(info, id)

    @strawberry.field(description="Several objects by global id, in order (null for each you may not see).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > info.context.limits.page_size:
            raise ValidationError(
                "ids", f"asks for {len(ids)} nodes; at most {info.context.limits.page_size}"
            )
        return list(await asyncio.gather(*(node_by_id(info, i) for i in ids)))

    @strawberry.field(description="Any object by its resource URI (null if there is none you may see).")
    async def resource(self, info: Info, uri: str) -> Node | None:
        return await resolve_uri(info, uri)

    @strawberry.field(description="Models, protocols and datasets you may see. " + _LIST_ARGS)
    async def entities(
        self,
        info: Info,
        kind: KindEnum | None = None,
        owner: str | None = None,
        visibility: VisibilityEnum | None = None,
        term: Annotated[str | None, strawberry.argument(description=_TERM)] = None,
        text: Annotated[str | None, strawberry.argument(description=_TEXT)] = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Entity]:
        return await _list(
            info, [kind] if kind else list(Kind), owner, visibility, term, text, first, after, last, before
        )

    @strawberry.field(description="Models you may see. " + _LIST_ARGS)
    async def models(
        self,
        info: Info,
        owner: str | None = None,
        visibility: VisibilityEnum | None = None,
        term: str | None = None,
        text: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Model]:
        return await _list(info, [Kind.MODEL], owner, visibility, term, text, first, after, last, before)

    @strawberry.field(description="Protocols you may see. " + _LIST_ARGS)
    async def protocols(
        self,
        info: Info,
        owner: str | None = None,
        visibility: VisibilityEnum | None = None,
        term: str | None = None,
        text: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Protocol]:
        return await _list(info, [Kind.PROTOCOL], owner, visibility, term, text, first, after, last, before)

    @strawberry.field(description="Datasets you may see. " + _LIST_ARGS)
    async def datasets(
        self,
        info: Info,
        owner: str | None = None,
        visibility: VisibilityEnum | None = None,
        text: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Dataset]:
        return await _list(info, [Kind.DATASET], owner, visibility, None, text, first, after, last, before)

    @strawberry.field(
        description="The experiment matrix: model versions × protocol versions with compatibility and "
        "the newest run per cell, in one request. Ids may name versions or entities (their "
        "newest version you may see); omitted: every model (protocol) you may see, "
        "filtered by owner and visibility if given, by name, up to a page."
    )
    async def experiment_matrix(
        self,
        info: Info,
        models: list[strawberry.ID] | None = None,
        protocols: list[strawberry.ID] | None = None,
        owner: Annotated[
            str | None, strawberry.argument(description="Without ids: only entities this user owns.")
        ] = None,
        visibility: Annotated[
            VisibilityEnum | None,
            strawberry.argument(description="Without ids: only entities with a version of this visibility."),
        ] = None,
    ) -> run_types.ExperimentMatrix:
        rows = await _version_pairs(info, models, Kind.MODEL, "models", owner, visibility)
        columns = await _version_pairs(info, protocols, Kind.PROTOCOL, "protocols", owner, visibility)
        return await run_types.matrix(info, rows, columns)

    @strawberry.field(
        description="Runs you may see (both versions visible to you), newest first; optionally only "
        "those with a status. Forward paging only (first/after)."
    )
    async def runs(
        self,
        info: Info,
        status: run_types.RunStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[run_types.Run]:
        return await run_types.recent_runs(info, status=status, first=first, after=after)

    @strawberry.field(description="How many models, protocols, datasets and runs you may see.")
    def counts(self) -> Counts:
        return Counts()

    @strawberry.field(
        description="The experiment of a model version and a protocol version (null unless you may see both)."
    )
    async def experiment(
        self, info: Info, model: strawberry.ID, protocol: strawberry.ID
    ) -> run_types.Experiment | None:
        rows = await _version_pairs(info, [model], Kind.MODEL, "model")
        columns = await _version_pairs(info, [protocol], Kind.PROTOCOL, "protocol")
        if not rows or not columns:
            return None
        return run_types.Experiment.of(info, rows[0][1].uri, columns[0][1].uri)

    @strawberry.field(
        description="Runs side by side with their outputs aligned by name (runs you may not see are "
        "left out)."
    )
    async def compare_runs(self, info: Info, runs: list[strawberry.ID]) -> run_types.Comparison:
        if len(runs) > info.context.limits.page_size:
            raise ValidationError(
                "runs", f"asks for {len(runs)} runs; at most {info.context.limits.page_size}"
            )
        base = info.context.settings.base_uri.rstrip("/") + "/runs/"
        ids = []
        for r in runs:
            try:
                uri = node_uri(info.context.settings.base_uri, r)
            except ValidationError:
                continue
            if uri.startswith(base):
                ids.append(uri.removeprefix(base))
        return await run_types.compare(info, ids)

    @strawberry.field(
        description="A user by name: null if there is none, or if they own nothing you may see "
        "(and are not you), so that the answer does not tell which accounts exist."
    )
    async def user(self, info: Info, name: str) -> User | None:
        return await visible_user(info, name)

    @strawberry.field(description="Ontology terms whose IRI or label contains the text (case-insensitive).")
    async def ontology_terms(self, info: Info, text: str) -> list[OntologyTerm]:
        found = await asyncio.to_thread(
            search.find_terms, info.context.services.store, info.context.settings.base_uri, text, graphs=[]
        )  # off the event loop
        return [OntologyTerm.of(t.iri) for t in found[: info.context.limits.page_size]]
