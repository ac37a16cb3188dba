"""HTTP for entity files: downloads (one file, or a whole version as OMEX), uploads, diffs.

Thin: every handler reads the caller from ``request.state.user`` and calls
``resolvers.entities``, which checks permissions; ``WeblabError`` becomes the
platform's JSON error shape (the app's exception handler).

    GET  /{models|protocols|datasets}/{id}/versions/{ref}/files/{path}   one file
    GET  /{models|protocols|datasets}/{id}/versions/{ref}/archive        the version as a COMBINE archive
    GET  /{models|protocols|datasets}/{id}/diff?from=REF&to=REF          unified diff (text/plain)
    POST /{models|protocols|datasets}                                    multipart: name, files…, [main, message, visibility, tag]
    POST /{models|protocols|datasets}/{id}/versions                      multipart: files…, [main, message, visibility, tag, inherit]

``ref`` is a commit SHA (or a unique prefix), a tag, or ``latest``.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from resolvers.entities import Entities
from resolvers.errors import UploadTooLarge, ValidationError
from resolvers.metadata import EntityRecord, Kind, VersionRecord
from resolvers.uploads import Upload

MAX_FILES = 1000


def _entities(request: Request) -> Entities:
    return Entities.from_services(request.app.state.services)


def _kind(request: Request) -> Kind:
    return Kind.from_segment(request.url.path.strip("/").split("/", 1)[0])


def _entity_uri(request: Request, entities: Entities) -> str:
    return entities.entity_uri(_kind(request), request.path_params["id"])


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def version_json(version: VersionRecord) -> dict[str, Any]:
    return {
        "uri": version.uri,
        "entity": version.entity_uri,
        "sha": version.sha,
        "message": version.message,
        "author": version.author,
        "created": version.created.isoformat(),
        "visibility": version.visibility.value,
        "main": version.main,
        "parent": version.parent,
        "tags": list(version.tags),
    }


def entity_json(entity: EntityRecord) -> dict[str, Any]:
    return {
        "uri": entity.uri,
        "id": entity.id,
        "kind": entity.kind.value,
        "name": entity.name,
        "owner": entity.owner,
        "created": entity.created.isoformat(),
        "protocol": entity.protocol,
    }


async def download_file(request: Request) -> Response:
    entities = _entities(request)
    path = request.path_params["path"]
    version, data = await entities.read_file(
        request.state.user, _entity_uri(request, entities), request.path_params["ref"], path
    )
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if path.lower().endswith(".cellml"):
        media_type = "application/cellml+xml"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": _disposition(path.rsplit("/", 1)[-1]),
            "ETag": f'"{version.sha}:{quote(path)}"',
        },
    )


async def download_archive(request: Request) -> Response:
    entities = _entities(request)
    entity, version, data = await entities.archive(
        request.state.user, _entity_uri(request, entities), request.path_params["ref"]
    )
    return Response(
        data,
        media_type="application/vnd.combine.omex",
        headers={
            "Content-Disposition": _disposition(f"{entity.id}-{version.sha[:12]}.omex"),
            "ETag": f'"{version.sha}"',
        },
    )


async def diff(request: Request) -> Response:
    entities = _entities(request)
    old, new = request.query_params.get("from"), request.query_params.get("to", "latest")
    if not old:
        raise ValidationError("from", "give the older version as ?from=REF (and the newer as &to=REF)")
    text = await entities.diff(request.state.user, _entity_uri(request, entities), old, new)
    return PlainTextResponse(text, media_type="text/x-diff")


def _limited(request: Request, limit: int) -> Request:
    """The same request, whose body stops with UploadTooLarge past ``limit`` bytes (chunked uploads too)."""
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise UploadTooLarge("files", f"the request body is over the upload limit of {limit} bytes")
        return message

    return Request(request.scope, receive)


async def _read_form(request: Request, entities: Entities) -> tuple[dict[str, str], list[Upload]]:
    """The text fields and uploaded files of a multipart form, each file read up to the upload limit."""
    limit = entities.limits.max_upload_bytes
    body_limit = entities.limits.max_unpacked_bytes + limit
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > body_limit:
        raise UploadTooLarge(
            "files", f"request of {declared} bytes is over the upload limit of {body_limit} bytes"
        )
    fields: dict[str, str] = {}
    uploads: list[Upload] = []
    async with _limited(request, body_limit).form(max_files=MAX_FILES, max_fields=100) as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                name = value.filename or key
                data = await value.read(limit + 1)
                if len(data) > limit:
                    raise UploadTooLarge(name, f"file is over the upload limit of {limit} bytes")
                uploads.append(Upload(name, data))
            else:
                fields[key] = value
    return fields, uploads


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


async def create_entity(request: Request) -> Response:
    entities = _entities(request)
    fields, uploads = await _read_form(request, entities)
    entity, version = await entities.publish(
        request.state.user,
        _kind(request),
        fields.get("name", ""),
        uploads,
        message=fields.get("message", ""),
        main=fields.get("main") or None,
        visibility=fields.get("visibility") or "public",
        tag=fields.get("tag") or None,
        protocol=fields.get("protocol") or None,
    )
    return JSONResponse(
        {"entity": entity_json(entity), "version": version_json(version)},
        status_code=201,
        headers={"Location": version.uri},
    )


async def add_version(request: Request) -> Response:
    entities = _entities(request)
    fields, uploads = await _read_form(request, entities)
    version = await entities.add_version(
        request.state.user,
        _entity_uri(request, entities),
        uploads,
        message=fields.get("message", ""),
        main=fields.get("main") or None,
        visibility=fields.get("visibility") or "public",
        tag=fields.get("tag") or None,
        inherit=_flag(fields.get("inherit")),
    )
    return JSONResponse(
        {"version": version_json(version)}, status_code=201, headers={"Location": version.uri}
    )


def routes() -> list[BaseRoute]:
    found: list[BaseRoute] = []
    for kind in Kind:
        base = f"/{kind.segment}"
        found += [
            Route(base + "/{id}/versions/{ref}/files/{path:path}", download_file, methods=["GET", "HEAD"]),
            Route(base + "/{id}/versions/{ref}/archive", download_archive, methods=["GET", "HEAD"]),
            Route(base + "/{id}/diff", diff, methods=["GET"]),
            Route(base, create_entity, methods=["POST"]),
            Route(base + "/{id}/versions", add_version, methods=["POST"]),
        ]
    return found
