"""Entities: create (with a first version), add versions with uploaded files, tag, visibility,
collaborators, delete. Every check is made by resolvers/entities.py; failures come back typed."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.file_uploads import Upload as UploadScalar

from resolvers.errors import NotFound, UploadTooLarge, ValidationError
from resolvers.metadata import EntityRecord, Kind, Visibility
from resolvers.uploads import Upload
from schema.context import Info
from schema.mutations.results import attempt
from schema.types.entities import Dataset, Model, Protocol, Version, entity_object
from schema.types.enums import KindEnum, VisibilityEnum
from schema.types.errors import Conflict, Forbidden, Unauthenticated
from schema.types.errors import NotFound as NotFoundType
from schema.types.errors import ValidationError as ValidationErrorType
from schema.types.node import node_uri

_ERRORS = ValidationErrorType | Unauthenticated | Forbidden | NotFoundType | Conflict
EntityResult = Annotated[
    Model | Protocol | Dataset | _ERRORS,
    strawberry.union("EntityResult", description="The entity as it now is, or a typed error."),
]
VersionResult = Annotated[
    Version | _ERRORS,
    strawberry.union("VersionResult", description="The version as it now is, or a typed error."),
]


@strawberry.type(description="The thing was deleted.")
class Deleted:
    id: strawberry.ID = strawberry.field(description="Global id of what was deleted.")


DeleteResult = Annotated[
    Deleted | _ERRORS, strawberry.union("DeleteResult", description="What was deleted, or a typed error.")
]


async def read_uploads(info: Info, files: list[Any] | None) -> list[Upload]:
    """The uploaded files' bytes, refusing early (before reading all of a huge file) what is over the limit."""
    limit = info.context.settings.max_upload_bytes
    out = []
    for n, f in enumerate(files or []):
        name = getattr(f, "filename", None) or f"file {n + 1}"
        if not callable(getattr(f, "read", None)):  # the Upload scalar lets any JSON value through
            raise ValidationError(
                "files",
                f"{name} is not an uploaded file: send files as a GraphQL multipart "
                "request (https://github.com/jaydenseric/graphql-multipart-request-spec)",
            )
        data = await f.read(limit + 1)
        if len(data) > limit:
            raise UploadTooLarge(name, f"file is over the upload limit of {limit} bytes")
        out.append(Upload(name, data))
    return out


def entity_uri_of(info: Info, id: str, argument: str = "entity") -> str:
    uri = node_uri(info.context.settings.base_uri, id)
    if "/versions/" in uri:
        raise ValidationError(argument, f"{id!r} names a version, not an entity")
    return uri


def version_of(info: Info, id: str, argument: str = "version") -> tuple[str, str]:
    """(entity URI, sha) of a version's global id or URI."""
    uri = node_uri(info.context.settings.base_uri, id)
    entity, sep, sha = uri.rpartition("/versions/")
    if not sep or not sha:
        raise ValidationError(argument, f"{id!r} is not a version id (…/versions/<sha>)")
    return entity, sha


async def _entity(info: Info, record: EntityRecord) -> Any:
    info.context.refresh()
    return entity_object(info, record)


async def _version(info: Info, entity_uri: str, sha: str) -> Version:
    info.context.refresh()
    found = await info.context.loaders.visible_version(f"{entity_uri}/versions/{sha}")
    if found is None:
        raise NotFound(f"no version {sha} of {entity_uri}")
    return Version.of(info, *found)


@strawberry.type
class EntityMutations:
    @strawberry.mutation(
        description="Create a model, protocol or dataset; with files, its first version too "
        "(both or neither). Multipart upload (GraphQL multipart request spec)."
    )
    async def create_entity(
        self,
        info: Info,
        kind: KindEnum,
        name: str,
        files: list[UploadScalar] | None = None,
        message: str = "",
        main_file: str | None = None,
        visibility: VisibilityEnum = Visibility.PUBLIC,
        tag: str | None = None,
        protocol: Annotated[
            strawberry.ID | None, strawberry.argument(description="Datasets: the protocol's id.")
        ] = None,
    ) -> EntityResult:
        async def run() -> Any:
            entities = info.context.entities
            protocol_uri = entity_uri_of(info, protocol, "protocol") if protocol else None
            uploads = await read_uploads(info, files)
            if uploads:
                record, _ = await entities.publish(
                    info.context.user,
                    Kind(kind),
                    name,
                    uploads,
                    message=message,
                    main=main_file,
                    visibility=visibility,
                    tag=tag,
                    protocol=protocol_uri,
                )
            else:
                record = await entities.create_entity(
                    info.context.user, Kind(kind), name, protocol=protocol_uri
                )
            return await _entity(info, record)

        return await attempt(run())

    @strawberry.mutation(
        description="Add a version from uploaded files (or COMBINE/zip archives); with `inherit`, "
        "files of the latest version not uploaded again are kept."
    )
    async def add_version(
        self,
        info: Info,
        entity: strawberry.ID,
        files: list[UploadScalar],
        message: str = "",
        main_file: str | None = None,
        visibility: VisibilityEnum = Visibility.PUBLIC,
        tag: str | None = None,
        inherit: bool = False,
    ) -> VersionResult:
        async def run() -> Version:
            uri = entity_uri_of(info, entity)
            uploads = await read_uploads(info, files)
            record = await info.context.entities.add_version(
                info.context.user,
                uri,
                uploads,
                message=message,
                main=main_file,
                visibility=visibility,
                tag=tag,
                inherit=inherit,
            )
            return await _version(info, uri, record.sha)

        return await attempt(run())

    @strawberry.mutation(description="Give a version a tag (unique within the entity).")
    async def tag_version(self, info: Info, version: strawberry.ID, tag: str) -> VersionResult:
        async def run() -> Version:
            uri, sha = version_of(info, version)
            record = await info.context.entities.tag_version(info.context.user, uri, sha, tag)
            return await _version(info, uri, record.sha)

        return await attempt(run())

    @strawberry.mutation(
        description="Make a version private or public (owner, admin) or moderated (moderators)."
    )
    async def set_visibility(
        self, info: Info, version: strawberry.ID, visibility: VisibilityEnum
    ) -> VersionResult:
        async def run() -> Version:
            uri, sha = version_of(info, version)
            record = await info.context.entities.set_visibility(info.context.user, uri, sha, visibility)
            return await _version(info, uri, record.sha)

        return await attempt(run())

    @strawberry.mutation(description="Let a user see private versions and add versions (owner or admin).")
    async def grant_collaborator(self, info: Info, entity: strawberry.ID, user: str) -> EntityResult:
        async def run() -> Any:
            uri = entity_uri_of(info, entity)
            await info.context.entities.grant(info.context.user, uri, user)
            record, _, _ = await info.context.entities.get_entity(info.context.user, uri)
            return await _entity(info, record)

        return await attempt(run())

    @strawberry.mutation(description="Take a collaborator's rights away (owner or admin).")
    async def revoke_collaborator(self, info: Info, entity: strawberry.ID, user: str) -> EntityResult:
        async def run() -> Any:
            uri = entity_uri_of(info, entity)
            await info.context.entities.revoke(info.context.user, uri, user)
            record, _, _ = await info.context.entities.get_entity(info.context.user, uri)
            return await _entity(info, record)

        return await attempt(run())

    @strawberry.mutation(description="Delete one version (owner or admin).")
    async def delete_version(self, info: Info, version: strawberry.ID) -> DeleteResult:
        async def run() -> Deleted:
            uri, sha = version_of(info, version)
            _, record = await info.context.entities.get_version(info.context.user, uri, sha)
            await info.context.entities.delete_version(info.context.user, uri, sha)
            info.context.refresh()
            return Deleted(
                id=strawberry.ID(record.uri.removeprefix(info.context.settings.base_uri.rstrip("/") + "/"))
            )

        return await attempt(run())

    @strawberry.mutation(description="Delete an entity with all its versions (owner or admin).")
    async def delete_entity(self, info: Info, entity: strawberry.ID) -> DeleteResult:
        async def run() -> Deleted:
            uri = entity_uri_of(info, entity)
            await info.context.entities.delete_entity(info.context.user, uri)
            info.context.refresh()
            return Deleted(
                id=strawberry.ID(uri.removeprefix(info.context.settings.base_uri.rstrip("/") + "/"))
            )

        return await attempt(run())
