"""Models, protocols and datasets (the ``Entity`` interface), their versions and files.

Every object here is built only after the loaders have decided the caller may
see it; fields that reach other objects (previous version, a dataset's
protocol, compatibility partners) go through the same checks, so a private
object never shows through a visible one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import strawberry

from ontology import search
from resolvers.entities import Entities
from resolvers.errors import NotFound
from resolvers.metadata import EntityRecord, Kind, VersionRecord, Visibility
from resolvers.permissions import can_delete, can_manage_collaborators
from schema.context import Info
from schema.types.enums import KindEnum, VisibilityEnum
from schema.types.node import Node, node_id
from schema.types.ontology import (
    Compatibility,
    InterfaceItem,
    OntologyTerm,
    ProtocolInterface,
    Variable,
    terms,
)
from schema.types.pagination import Connection, check_page_size, paginate
from schema.types.runs import Experiment, Run, RunStatus, version_experiments, version_runs
from schema.types.users import User
from worker.contract import format_of


@strawberry.type(description="A file of a version.")
class File:
    path: str = strawberry.field(description="Path inside the version (folders separated by '/').")
    size: int = strawberry.field(description="Size in bytes.")
    format: str = strawberry.field(
        description="COMBINE format IRI of the file (CellML, protocol text, CSV, …)."
    )
    is_main: bool = strawberry.field(description="True for the version's main file (named in its manifest).")
    url: str = strawberry.field(description="Where to download it (same permission checks as here).")


def _newest_first(created: datetime, uri: str) -> tuple[float, str]:
    return (-created.timestamp(), uri)


@strawberry.type(description="One version of an entity: a git commit of its files, with metadata.")
class Version(Node):
    record: strawberry.Private[VersionRecord]
    entity_record: strawberry.Private[EntityRecord]
    # plain fields (no resolver call per field): pages of versions are large
    sha: str = strawberry.field(description="The commit SHA.")
    message: str = strawberry.field(description="The message the author gave.")
    author: User = strawberry.field(description="Who added the version.")
    created: datetime = strawberry.field(description="When the version was added.")
    visibility: VisibilityEnum = strawberry.field(description="Who may see this version.")
    tags: list[str] = strawberry.field(description="The version's tags.")
    main_file: str = strawberry.field(description="Path of the main file.")
    kind: KindEnum = strawberry.field(description="The kind of entity this is a version of.")

    @classmethod
    def of(cls, info: Info, entity: EntityRecord, record: VersionRecord) -> Version:
        built = info.context.loaders.objects
        if (found := built.get(("Version", record.uri))) is not None and found.record == record:
            return found
        base = info.context.settings.base_uri
        found = built[("Version", record.uri)] = cls(
            id=strawberry.ID(node_id(base, record.uri)),
            uri=record.uri,
            record=record,
            entity_record=entity,
            sha=record.sha,
            message=record.message,
            author=User.named(info, record.author),
            created=record.created,
            visibility=record.visibility,
            tags=list(record.tags),
            main_file=record.main,
            kind=record.kind,
        )
        return found

    @strawberry.field(description="The entity this is a version of.")
    def entity(self, info: Info) -> Annotated[Entity, strawberry.lazy("schema.types.entities")]:
        return entity_object(info, self.entity_record)

    @strawberry.field(description="The version this one revises, if you may see it.")
    async def previous(self, info: Info) -> Version | None:
        if self.record.parent is None:
            return None
        return await version_at(info, self.record.parent)

    @strawberry.field(description="The version's files (the COMBINE manifest included).")
    def files(self, info: Info) -> list[File]:
        repo = info.context.loaders.repos.open(self.entity_record.kind.segment, self.entity_record.id)
        prefix = (
            f"/{self.entity_record.kind.segment}/{self.entity_record.id}/versions/{self.record.sha}/files/"
        )
        return [
            File(
                path=f.path,
                size=f.size,
                format=format_of(f.path),
                is_main=f.path == self.record.main,
                url=prefix + quote(f.path),
            )
            for f in repo.files(self.record.sha)
        ]

    @strawberry.field(description="Where to download the whole version as a COMBINE/OMEX archive.")
    def archive_url(self) -> str:
        return (
            f"/{self.entity_record.kind.segment}/{self.entity_record.id}/versions/{self.record.sha}/archive"
        )

    @strawberry.field(
        description="Runs of experiments with this version (as model or protocol) whose other "
        "version you may see too, newest first; optionally only those with a status."
    )
    async def runs(
        self,
        info: Info,
        status: RunStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Run]:
        return await version_runs(
            info, self.record.uri, status=status, first=first, after=after, last=last, before=before
        )

    @strawberry.field(
        description="Experiments with this version that have been run (and whose other version you "
        "may see), the most recently run first."
    )
    async def experiments(self, info: Info) -> list[Experiment]:
        return await version_experiments(info, self.record.uri)

    @strawberry.field(description="Models: every ontology term the model annotates (null for other kinds).")
    async def terms(self, info: Info) -> list[OntologyTerm] | None:
        if self.record.kind is not Kind.MODEL:
            return None
        return terms(await info.context.loaders.terms.load(self.record.uri))

    @strawberry.field(description="Models: the annotated variables (null for other kinds).")
    async def variables(self, info: Info) -> list[Variable] | None:
        if self.record.kind is not Kind.MODEL:
            return None
        return [Variable(row=r) for r in await info.context.loaders.variables.load(self.record.uri)]

    @strawberry.field(
        description="Protocols: the terms it needs, its inputs and outputs (null for other kinds)."
    )
    async def interface(self, info: Info) -> ProtocolInterface | None:
        if self.record.kind is not Kind.PROTOCOL:
            return None
        row = await info.context.loaders.interface.load(self.record.uri)
        return ProtocolInterface(
            required_terms=terms(row.required_terms),
            optional_terms=terms(row.optional_terms),
            inputs=[InterfaceItem(part=p) for p in row.inputs],
            outputs=[InterfaceItem(part=p) for p in row.outputs],
        )

    @strawberry.field(
        description="Models: the latest versions of the protocols you may see that this version "
        "fits (null for other kinds)."
    )
    async def compatible_protocols(self, info: Info) -> list[Version] | None:
        if self.record.kind is not Kind.MODEL:
            return None
        loaders = info.context.loaders
        found = await loaders.compatible.load(self.record.uri)
        protocols = await loaders.latest_protocol_versions()  # the same order as ``found``
        return [Version.of(info, e, v) for c, (e, v) in zip(found, protocols, strict=True) if c.fits]

    @strawberry.field(
        description="Models: this version against the latest version of every protocol you may "
        "see (null for other kinds)."
    )
    async def compatibility(self, info: Info, only_fitting: bool = False) -> list[Compatibility] | None:
        if self.record.kind is not Kind.MODEL:
            return None
        loaders = info.context.loaders
        found = await loaders.compatible.load(self.record.uri)
        protocols = await loaders.latest_protocol_versions()  # the same order as ``found``
        return [
            Compatibility.of(self, Version.of(info, e, v), c.missing)
            for c, (e, v) in zip(found, protocols, strict=True)
            if c.fits or not only_fitting
        ]


@strawberry.interface(description="A model, protocol or dataset: a named, owned, versioned set of files.")
class Entity(Node):
    record: strawberry.Private[EntityRecord]
    kind: KindEnum = strawberry.field(description="model, protocol or dataset.")
    name: str = strawberry.field(
        description="The entity's name (unique among its owner's entities of its kind)."
    )
    created: datetime = strawberry.field(description="When the entity was created.")
    owner: User = strawberry.field(description="Who owns it.")

    @strawberry.field(description="The versions you may see, newest first.")
    async def versions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Version]:
        visible = await info.context.loaders.visible_versions(self.record)
        ordered = sorted(visible, key=lambda v: _newest_first(v.created, v.uri))
        return paginate(
            ordered,
            lambda v: _newest_first(v.created, v.uri),
            lambda v: Version.of(info, self.record, v),
            first=first,
            after=after,
            last=last,
            before=before,
            maximum=info.context.limits.page_size,
        )

    @strawberry.field(description="The newest version you may see.")
    async def latest_version(self, info: Info) -> Version | None:
        latest = await info.context.loaders.latest_visible(self.record)
        return Version.of(info, self.record, latest) if latest else None

    @strawberry.field(
        description="One version by tag, full SHA, unique SHA prefix or 'latest' (null if none you may see)."
    )
    async def version(self, info: Info, ref: str) -> Version | None:
        visible = await info.context.loaders.visible_versions(self.record)
        try:
            found = Entities.pick_version(visible, ref, self.record.uri)
        except NotFound:
            return None
        return Version.of(info, self.record, found)

    @strawberry.field(description="Users who may add versions and see private ones, besides the owner.")
    async def collaborators(self, info: Info) -> list[User]:
        return [User.named(info, n) for n in await info.context.loaders.collaborators.load(self.record.uri)]

    @strawberry.field(description="True when you may add and tag versions.")
    async def can_edit(self, info: Info) -> bool:
        return await info.context.loaders.can_edit(self.record)

    @strawberry.field(description="True when you may delete it, set visibility and manage collaborators.")
    async def can_manage(self, info: Info) -> bool:
        access = await info.context.loaders.access(self.record)
        return can_delete(info.context.user, access) and can_manage_collaborators(info.context.user, access)


@strawberry.type(description="A cardiac cell model (CellML).")
class Model(Entity):
    pass


@strawberry.type(description="A functional-curation protocol.")
class Protocol(Entity):
    pass


@strawberry.type(description="Experimental data, linked to the protocol it was recorded for.")
class Dataset(Entity):
    @strawberry.field(description="The protocol this dataset belongs to, if you may see it.")
    async def protocol(self, info: Info) -> Protocol | None:
        if self.record.protocol is None:
            return None
        found = await info.context.loaders.visible_entity(self.record.protocol)
        return Protocol(**_fields(info, found)) if found is not None else None


_CLASSES: dict[Kind, type[Entity]] = {Kind.MODEL: Model, Kind.PROTOCOL: Protocol, Kind.DATASET: Dataset}


def _fields(info: Info, record: EntityRecord) -> dict:
    return {
        "id": strawberry.ID(node_id(info.context.settings.base_uri, record.uri)),
        "uri": record.uri,
        "record": record,
        "kind": record.kind,
        "name": record.name,
        "created": record.created,
        "owner": User.named(info, record.owner),
    }


def entity_object(info: Info, record: EntityRecord) -> Entity:
    built = info.context.loaders.objects
    if (found := built.get(("Entity", record.uri))) is None or found.record != record:
        found = built[("Entity", record.uri)] = _CLASSES[record.kind](**_fields(info, record))
    return found


async def entity_at(info: Info, uri: str) -> Entity | None:
    """The entity at ``uri`` if you may see it."""
    record = await info.context.loaders.visible_entity(uri)
    return entity_object(info, record) if record is not None else None


async def version_at(info: Info, uri: str) -> Version | None:
    """The version at ``uri`` if you may see it."""
    found = await info.context.loaders.visible_version(uri)
    return Version.of(info, *found) if found is not None else None


EntityConnection = Connection[Entity]


async def matching_entities(
    info: Info,
    records: list[EntityRecord],
    *,
    visibility: Visibility | None,
    term: str | None,
    text: str | None,
) -> list[EntityRecord]:
    loaders = info.context.loaders
    if visibility is not None:
        records = [
            r for r in records if any(v.visibility is visibility for v in await loaders.visible_versions(r))
        ]
    if term is not None:
        iri = search.expand(term.strip())
        latest = [(r, await loaders.latest_visible(r)) for r in records]
        models = [(r, v) for r, v in latest if v is not None and r.kind is Kind.MODEL]
        protocols = [(r, v) for r, v in latest if v is not None and r.kind is Kind.PROTOCOL]
        model_terms = await loaders.terms.load_many([v.uri for _, v in models]) if models else []
        interfaces = await loaders.interface.load_many([v.uri for _, v in protocols]) if protocols else []
        keep = {r.uri for (r, _), found in zip(models, model_terms, strict=True) if iri in found}
        keep |= {
            r.uri
            for (r, _), row in zip(protocols, interfaces, strict=True)
            if iri in row.required_terms or iri in row.optional_terms
        }
        records = [r for r in records if r.uri in keep]
    if text is not None and text.strip():
        needle = text.strip().casefold()
        hit_versions: set[str] = set()
        if any(r.kind is Kind.MODEL for r in records):
            # CPU-heavy for a long text over a large store: in a thread (pyoxigraph lets go of the GIL), so the
            # event loop goes on answering other requests meanwhile
            hits = await asyncio.to_thread(
                search.find_models, info.context.services.store, loaders.base, text, latest_only=False
            )
            hit_versions = {h.version for h in hits}
        keep = []
        for r in records:
            visible = await loaders.visible_versions(r)
            if (
                needle in r.name.casefold()
                or any(needle in v.message.casefold() for v in visible)
                or any(v.uri in hit_versions for v in visible)
            ):
                keep.append(r)
        records = keep
    return records


async def entity_connection(
    info: Info,
    *,
    kinds: list[Kind],
    owner: str | None = None,
    visibility: Visibility | None = None,
    term: str | None = None,
    text: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection:
    """A page of the entities you may see, newest first, filtered."""
    limits = info.context.limits
    check_page_size(first, last, limits.page_size)
    records: list[EntityRecord] = []
    for kind in kinds:
        records += await info.context.loaders.visible_entities(kind)
    if owner is not None:
        records = [r for r in records if r.owner == owner]
    records = await matching_entities(info, records, visibility=visibility, term=term, text=text)
    records.sort(key=lambda r: _newest_first(r.created, r.uri))
    return paginate(
        records,
        lambda r: _newest_first(r.created, r.uri),
        lambda r: entity_object(info, r),
        first=first,
        after=after,
        last=last,
        before=before,
        maximum=limits.page_size,
    )
