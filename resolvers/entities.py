"""Entities and their versions: the operations GraphQL, HTTP routes and the importer call.

An entity (model, protocol, dataset) is a bare git repository (files, history)
plus RDF (an entity graph and one graph per version, see ``resolvers.metadata``).
Every operation checks the caller with ``resolvers.permissions`` first, and every
write keeps git and the store together: the commit object is written first
without moving any ref, then the version graph, then the ``main`` ref; a failure
at any step undoes the steps before it (drop the graph, put the ref back).

A private version the caller may not see is reported as not found, so that its
existence does not leak.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pygit2
import pyoxigraph as ox

from resolvers import describe, metadata
from resolvers.content import check_files, choose_main, csv_header
from resolvers.errors import Conflict, Forbidden, NotFound, NothingChanged, Unauthenticated, ValidationError
from resolvers.metadata import EntityRecord, Kind, VersionRecord, Visibility
from resolvers.permissions import (
    Access,
    Caller,
    can_delete,
    can_edit,
    can_manage_collaborators,
    can_set_visibility,
    can_view,
    can_view_entity,
)
from resolvers.repositories import EntityRepository, Repositories
from resolvers.services import Services
from resolvers.uploads import Limits, Upload, unpack
from worker.contract import MANIFEST, build_omex, format_of, write_manifest

MAX_NAME_LENGTH = 200
_SHA_PREFIX = re.compile(r"^[0-9a-f]{4,40}$")
_locks: dict[tuple[int, str], asyncio.Lock] = {}


def _lock(key: str) -> asyncio.Lock:
    """One in-process lock per entity (or per owner+kind for names): writes to one entity are serialised.

    Keyed by event loop too, since an asyncio lock belongs to the loop it was first used in."""
    return _locks.setdefault((id(asyncio.get_running_loop()), key), asyncio.Lock())


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    format: str
    is_main: bool


@dataclass(frozen=True)
class EntityPage:
    """What an entity's page shows: its metadata, the versions the caller sees, the latest one's files."""

    entity: EntityRecord
    versions: list[VersionRecord]
    latest: VersionRecord | None
    files: list[FileInfo]
    can_edit: bool
    can_delete: bool


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:40].strip("-")
    return slug or "entity"


def _require_user(caller: Caller | None) -> Caller:
    if caller is None:
        raise Unauthenticated()
    return caller


def _check_name(name: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise ValidationError("name", "a name is required")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ValidationError("name", f"a name has at most {MAX_NAME_LENGTH} characters")
    if "\x00" in cleaned:
        raise ValidationError("name", "a name may not contain NUL characters")
    return cleaned


def parse_visibility(value: Visibility | str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        choices = ", ".join(v.value for v in Visibility)
        raise ValidationError("visibility", f"{value!r} is not a visibility; use one of {choices}") from None


def parse_kind(value: Kind | str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise ValidationError(
            "kind", f"{value!r} is not a kind; use one of {', '.join(k.value for k in Kind)}"
        ) from None


def _check_tag(tag: str) -> str:
    if (
        not tag
        or tag == "latest"
        or _SHA_PREFIX.match(tag)
        or not pygit2.reference_is_valid_name(f"refs/tags/{tag}")
    ):
        raise ValidationError(
            "tag",
            f"{tag!r} is not a usable tag: use letters, digits, '.', '-', '_' (not 'latest', not hexadecimal)",
        )
    if len(tag) > 100:
        raise ValidationError("tag", "a tag has at most 100 characters")
    return tag


log = logging.getLogger(__name__)
VersionHook = Callable[[VersionRecord], Awaitable[None]]


async def _read_interface(kind: Kind, files: dict[str, bytes], main: str) -> Any | None:
    """A protocol's interface (or why it could not be read), off the event loop; None for other kinds.

    Raises ``describe.ProtocolSyntaxError`` (400) when the protocol, or one it imports, does not parse."""
    if kind is not Kind.PROTOCOL:
        return None
    return await asyncio.to_thread(describe.read_interface, files, main)


class Entities:
    """The entity operations over one platform's store, database and repositories."""

    def __init__(
        self, store: Any, db: Any, repos: Repositories, base_uri: str, limits: Limits | None = None
    ) -> None:
        self.store = store
        self.ox: ox.Store = store.oxigraph if hasattr(store, "oxigraph") else store
        self.db = db
        self.repos = repos
        self.base_uri = base_uri
        self.limits = limits or Limits()
        self.autoflush = True
        # Called after a version is committed (the platform queues its experiments there); a failure
        # in it is logged, never undoes the version: `weblab run-all` catches up.
        self.on_version: VersionHook | None = None

    def flush(self) -> None:
        """Make writes visible to read-only openers of the store (other processes); bulk writers turn it off."""
        if self.autoflush and hasattr(self.store, "flush"):
            self.store.flush()

    @classmethod
    def from_services(cls, services: Services, *, auto_run: bool | None = None) -> Entities:
        """With ``auto_run`` (default: the ``auto_run`` setting), every new version queues its compatible
        experiments; bulk importers turn it off."""
        s = services.settings
        entities = cls(
            services.store,
            services.db,
            Repositories(s.repos_dir),
            s.base_uri,
            Limits(max_upload_bytes=s.max_upload_bytes, max_unpacked_bytes=s.max_unpacked_bytes),
        )
        if s.auto_run if auto_run is None else auto_run:

            async def queue_experiments(version: VersionRecord) -> None:
                from resolvers import runs  # runs builds on entities

                await runs.queue_for_version(services, version.uri)

            entities.on_version = queue_experiments
        return entities

    # --- reading ---------------------------------------------------------------------------------

    async def access(self, entity: EntityRecord) -> Access:
        async with self.db.connection() as conn:
            cur = await conn.execute("SELECT user_id FROM collaborators WHERE entity_uri = %s", (entity.uri,))
            return Access(owner=entity.owner, collaborators=frozenset(row[0] for row in await cur.fetchall()))

    def entity_uri(self, kind: Kind, entity_id: str) -> str:
        return metadata.entity_uri(self.base_uri, kind, entity_id)

    async def get_entity(
        self, caller: Caller | None, uri: str
    ) -> tuple[EntityRecord, Access, list[VersionRecord]]:
        """The entity, its access rights and the versions the caller may see; NotFound if it may see nothing."""
        record = metadata.read_entity(self.ox, self.base_uri, uri)
        if record is None:
            raise NotFound(f"no entity {uri}")
        access = await self.access(record)
        versions = metadata.list_versions(self.ox, self.base_uri, uri)
        if not can_view_entity(caller, access, (v.visibility for v in versions)):
            raise NotFound(f"no entity {uri}")
        return record, access, [v for v in versions if can_view(caller, access, v.visibility)]

    def find_entity(self, kind: Kind, owner: str, name: str) -> EntityRecord | None:
        return metadata.find_entity(self.ox, self.base_uri, kind, owner, name)

    @staticmethod
    def pick_version(versions: Sequence[VersionRecord], ref: str, entity_uri: str) -> VersionRecord:
        """A version by ``latest``, tag, full SHA or unique SHA prefix, among those given (oldest first)."""
        if not versions:
            raise NotFound(f"{entity_uri} has no versions you can see")
        if ref == "latest":
            return versions[-1]
        for v in versions:
            if ref in v.tags or v.sha == ref:
                return v
        if _SHA_PREFIX.match(ref):
            matches = [v for v in versions if v.sha.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ValidationError("version", f"{ref!r} matches several versions; give more of the SHA")
        raise NotFound(f"{entity_uri} has no version {ref!r}")

    async def get_version(
        self, caller: Caller | None, entity_uri: str, ref: str
    ) -> tuple[EntityRecord, VersionRecord]:
        entity, _, versions = await self.get_entity(caller, entity_uri)
        return entity, self.pick_version(versions, ref, entity_uri)

    def _repo(self, entity: EntityRecord) -> EntityRepository:
        return self.repos.open(entity.kind.segment, entity.id)

    @staticmethod
    def _file_infos(repo: EntityRepository, version: VersionRecord) -> list[FileInfo]:
        return [
            FileInfo(f.path, f.size, format_of(f.path), f.path == version.main)
            for f in repo.files(version.sha)
        ]

    async def entity_page(self, caller: Caller | None, uri: str, ref: str = "latest") -> EntityPage:
        """Metadata, visible versions and one version's files: one SPARQL round for RDF, one repository opened."""
        entity, access, versions = await self.get_entity(caller, uri)
        latest = self.pick_version(versions, ref, uri) if versions else None
        files = self._file_infos(self._repo(entity), latest) if latest else []
        return EntityPage(
            entity, versions, latest, files, can_edit(caller, access), can_delete(caller, access)
        )

    async def list_files(self, caller: Caller | None, entity_uri: str, ref: str) -> list[FileInfo]:
        entity, version = await self.get_version(caller, entity_uri, ref)
        return self._file_infos(self._repo(entity), version)

    async def read_file(
        self, caller: Caller | None, entity_uri: str, ref: str, path: str
    ) -> tuple[VersionRecord, bytes]:
        entity, version = await self.get_version(caller, entity_uri, ref)
        return version, self._repo(entity).read(version.sha, path)

    async def archive(
        self, caller: Caller | None, entity_uri: str, ref: str
    ) -> tuple[EntityRecord, VersionRecord, bytes]:
        """The whole version as a COMBINE/OMEX archive (manifest first)."""
        entity, version = await self.get_version(caller, entity_uri, ref)
        files = self._repo(entity).read_all(version.sha)
        return entity, version, build_omex(files, version.created)

    async def diff(self, caller: Caller | None, entity_uri: str, old: str, new: str) -> str:
        """Unified diff between two versions the caller may see."""
        entity, _, versions = await self.get_entity(caller, entity_uri)
        a = self.pick_version(versions, old, entity_uri)
        b = self.pick_version(versions, new, entity_uri)
        return self._repo(entity).diff(a.sha, b.sha)

    # --- writing ---------------------------------------------------------------------------------

    async def create_entity(
        self, caller: Caller | None, kind: Kind, name: str, *, protocol: str | None = None
    ) -> EntityRecord:
        """A new entity without versions; its name must be new among the caller's entities of that kind."""
        user = _require_user(caller)
        kind = parse_kind(kind)
        name = _check_name(name)
        if protocol is not None:
            if kind is not Kind.DATASET:
                raise ValidationError("protocol", "only datasets are linked to a protocol")
            linked, _, _ = await self.get_entity(caller, protocol)
            if linked.kind is not Kind.PROTOCOL:
                raise ValidationError("protocol", f"{protocol} is a {linked.kind.value}, not a protocol")
        async with _lock(f"name:{kind.value}:{user.name}"):
            if self.find_entity(kind, user.name, name) is not None:
                raise Conflict(f"you already have a {kind.value} named {name!r}; choose another name")
            entity_id = f"{slugify(name)}-{secrets.token_hex(4)}"
            record = EntityRecord(
                uri=self.entity_uri(kind, entity_id),
                id=entity_id,
                kind=kind,
                name=name,
                owner=user.name,
                created=metadata.now(),
                protocol=protocol,
            )
            self.repos.create(kind.segment, entity_id)
            try:
                metadata.write_graph(
                    self.ox, ox.NamedNode(record.uri), metadata.entity_triples(record, self.base_uri)
                )
            except BaseException:
                self.repos.remove(kind.segment, entity_id)
                raise
        return record

    async def add_version(
        self,
        caller: Caller | None,
        entity_uri: str,
        uploads: Sequence[Upload],
        *,
        message: str = "",
        main: str | None = None,
        visibility: Visibility | str = Visibility.PUBLIC,
        tag: str | None = None,
        inherit: bool = False,
    ) -> VersionRecord:
        """A new version from uploaded files (or archives); with ``inherit``, files of the latest version not
        uploaded again are kept. Refused whole, with nothing written, if any check fails."""
        user = _require_user(caller)
        visibility = parse_visibility(visibility)
        entity, access, _ = await self.get_entity(caller, entity_uri)
        if not can_edit(user, access):
            raise Forbidden(f"only the owner and collaborators of {entity.name!r} may add versions")
        if visibility is Visibility.MODERATED and not user.is_moderator:
            raise Forbidden("only moderators and admins may publish a version as moderated")
        if tag is not None:
            tag = _check_tag(tag)
        unpacked = unpack(uploads, self.limits)
        async with _lock(entity.uri):
            all_versions = metadata.list_versions(self.ox, self.base_uri, entity.uri)
            if tag is not None and any(tag in v.tags for v in all_versions):
                raise Conflict(f"tag {tag!r} is already used by another version of {entity.name!r}")
            repo = self._repo(entity)
            head = repo.head()
            files = dict(unpacked.files)
            previous_main = None
            if inherit and head is not None:
                kept = {p: d for p, d in repo.read_all(head).items() if p != MANIFEST}
                files = {**kept, **files}
                previous_main = next((v.main for v in all_versions if v.sha == head), None)
            main = choose_main(entity.kind, files, main or unpacked.main or previous_main)
            files[MANIFEST] = write_manifest([p for p in files if p != MANIFEST], main)

            created = metadata.now()
            if all_versions and created <= all_versions[-1].created:
                created = all_versions[-1].created + timedelta(microseconds=1)
            tree = repo.write_tree(files)
            if head is not None and repo.tree_id(head) == tree:
                raise NothingChanged(
                    f"the files are identical to the latest version of {entity.name!r}; no version added"
                )
            content = {p: d for p, d in files.items() if p != MANIFEST}
            check_files(entity.kind, content, main)
            interface = await _read_interface(
                entity.kind, content, main
            )  # a protocol that does not parse: 400
            sha = repo.write_commit(
                tree,
                message or f"{entity.name}: new version",
                user.name,
                getattr(user, "email", "") or f"{user.name}@weblab",
                created,
                head,
            )
            parent = next((v.uri for v in all_versions if v.sha == head), None)
            record = VersionRecord(
                uri=metadata.version_uri(entity.uri, sha),
                entity_uri=entity.uri,
                sha=sha,
                kind=entity.kind,
                message=message,
                author=user.name,
                created=created,
                visibility=visibility,
                main=main,
                parent=parent,
                tags=(tag,) if tag else (),
            )
            description = describe.describe_version(
                entity.kind.value, content, main, record.uri, interface=interface
            )
            triples = metadata.version_triples(record, self.base_uri) + list(description.triples)
            if entity.kind is Kind.DATASET:
                triples += metadata.column_triples(record.uri, csv_header(files[main], main))
            problems = describe.validate_version_graph(triples)
            if problems:
                raise ValidationError(main, "the version's metadata is invalid: " + "; ".join(problems))
            graph = ox.NamedNode(record.uri)
            metadata.write_graph(self.ox, graph, triples)
            try:
                metadata.write_revision(self.ox, record.uri, parent)
                repo.advance(sha, head)
                if tag:
                    repo.set_tag(tag, sha)
            except BaseException:
                metadata.drop_graph(self.ox, graph)
                metadata.write_revision(self.ox, record.uri, None)
                repo.rewind(head, from_sha=sha)
                raise
            self.flush()
        if self.on_version is not None:
            try:
                await self.on_version(record)
            except Exception:
                log.exception("version %s was added, but queueing its experiments failed", record.uri)
        return record

    async def publish(
        self,
        caller: Caller | None,
        kind: Kind,
        name: str,
        uploads: Sequence[Upload],
        *,
        message: str = "",
        main: str | None = None,
        visibility: Visibility | str = Visibility.PUBLIC,
        tag: str | None = None,
        protocol: str | None = None,
    ) -> tuple[EntityRecord, VersionRecord]:
        """A new entity with its first version, or neither: the entity is removed again if the version is refused."""
        _require_user(caller)
        kind = parse_kind(kind)
        unpacked = unpack(
            uploads, self.limits
        )  # refuse bad uploads (and bad content, below) before creating anything
        first_main = choose_main(kind, unpacked.files, main or unpacked.main)
        check_files(kind, unpacked.files, first_main)
        await _read_interface(kind, unpacked.files, first_main)  # remembered for add_version's description
        entity = await self.create_entity(caller, kind, name, protocol=protocol)
        try:
            version = await self.add_version(
                caller, entity.uri, uploads, message=message, main=main, visibility=visibility, tag=tag
            )
        except BaseException:
            await self._remove_entity(entity)
            raise
        return entity, version

    async def _version_for_write(
        self, caller: Caller | None, entity_uri: str, ref: str
    ) -> tuple[EntityRecord, Access, VersionRecord, list[VersionRecord]]:
        entity, access, visible = await self.get_entity(caller, entity_uri)
        version = self.pick_version(visible, ref, entity_uri)
        return entity, access, version, visible

    async def tag_version(self, caller: Caller | None, entity_uri: str, ref: str, tag: str) -> VersionRecord:
        user = _require_user(caller)
        tag = _check_tag(tag)
        entity, access, version, _ = await self._version_for_write(user, entity_uri, ref)
        if not can_edit(user, access):
            raise Forbidden(f"only the owner and collaborators of {entity.name!r} may tag its versions")
        async with _lock(entity.uri):
            if any(tag in v.tags for v in metadata.list_versions(self.ox, self.base_uri, entity.uri)):
                raise Conflict(f"tag {tag!r} is already used by a version of {entity.name!r}")
            quad = ox.Quad(
                ox.NamedNode(version.uri), metadata.TAG, ox.Literal(tag), ox.NamedNode(version.uri)
            )
            self.ox.add(quad)
            try:
                self._repo(entity).set_tag(tag, version.sha)
            except BaseException:
                self.ox.remove(quad)
                raise
        return replace(version, tags=tuple(sorted((*version.tags, tag))))

    async def set_visibility(
        self, caller: Caller | None, entity_uri: str, ref: str, visibility: Visibility | str
    ) -> VersionRecord:
        user = _require_user(caller)
        new = parse_visibility(visibility)
        entity, access, version, _ = await self._version_for_write(user, entity_uri, ref)
        if not can_set_visibility(user, access, version.visibility, new):
            who = (
                "moderators and admins"
                if Visibility.MODERATED in (new, version.visibility)
                else "the owner and admins"
            )
            raise Forbidden(f"only {who} may make this version {new.value}")
        if new is version.visibility:
            return version
        graph = ox.NamedNode(version.uri)
        async with _lock(entity.uri):
            self.ox.swap(  # type: ignore[attr-defined]  # both stores' wrappers add swap (sparql/store.py, remote.py)
                ox.Quad(graph, metadata.VISIBILITY, version.visibility.term, graph),
                ox.Quad(graph, metadata.VISIBILITY, new.term, graph),
            )
        return replace(version, visibility=new)

    async def delete_version(self, caller: Caller | None, entity_uri: str, ref: str) -> None:
        """Remove one version: its graph, its tags and (if it was the latest) the ``main`` ref moves back."""
        user = _require_user(caller)
        entity, access, version, _ = await self._version_for_write(user, entity_uri, ref)
        if not can_delete(user, access):
            raise Forbidden(f"only the owner of {entity.name!r} or an admin may delete its versions")
        async with _lock(entity.uri):
            everything = metadata.list_versions(self.ox, self.base_uri, entity.uri)
            remaining = [v for v in everything if v.uri != version.uri]
            repo = self._repo(entity)
            head = repo.head()
            graph = ox.NamedNode(version.uri)
            saved = metadata.graph_triples(self.ox, graph)
            successors = [v for v in remaining if v.parent == version.uri]
            metadata.drop_graph(self.ox, graph)
            metadata.write_revision(self.ox, version.uri, None)
            try:
                for s in successors:
                    metadata.write_revision(self.ox, s.uri, version.parent)
                if head == version.sha:
                    repo.rewind(remaining[-1].sha if remaining else None, from_sha=version.sha)
                for t in version.tags:
                    repo.delete_tag(t)
            except BaseException:
                metadata.write_graph(self.ox, graph, saved)
                metadata.write_revision(self.ox, version.uri, version.parent)
                for s in successors:
                    metadata.write_revision(self.ox, s.uri, version.uri)
                raise
            self.flush()

    async def delete_entity(self, caller: Caller | None, entity_uri: str) -> None:
        """Remove an entity whole: every version graph, the entity graph, the repository and its grants."""
        user = _require_user(caller)
        entity, access, _ = await self.get_entity(caller, entity_uri)
        if not can_delete(user, access):
            raise Forbidden(f"only the owner of {entity.name!r} or an admin may delete it")
        await self._remove_entity(entity)

    async def _remove_entity(self, entity: EntityRecord) -> None:
        async with _lock(entity.uri):
            versions = metadata.list_versions(self.ox, self.base_uri, entity.uri)
            graphs = [ox.NamedNode(v.uri) for v in versions]
            graphs += [metadata.revision_graph(v.uri) for v in versions if v.parent]
            graphs.append(ox.NamedNode(entity.uri))
            saved = {g: metadata.graph_triples(self.ox, g) for g in graphs}
            for g in graphs:
                metadata.drop_graph(self.ox, g)
            try:
                self.repos.remove(entity.kind.segment, entity.id)
            except BaseException:
                for g, triples in saved.items():
                    metadata.write_graph(self.ox, g, triples)
                raise
            self.flush()
            async with self.db.connection() as conn:
                await conn.execute("DELETE FROM collaborators WHERE entity_uri = %s", (entity.uri,))

    # --- collaborators ---------------------------------------------------------------------------

    async def _user_id(self, name: str) -> int:
        async with self.db.connection() as conn:
            cur = await conn.execute("SELECT id FROM users WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise ValidationError("user", f"no user named {name!r}")
        return int(row[0])

    async def grant(self, caller: Caller | None, entity_uri: str, user_name: str) -> None:
        """Let ``user_name`` see private versions and add versions (owner or admin only)."""
        user = _require_user(caller)
        entity, access, _ = await self.get_entity(caller, entity_uri)
        if not can_manage_collaborators(user, access):
            raise Forbidden(f"only the owner of {entity.name!r} or an admin may grant collaborators")
        if user_name == entity.owner:
            raise ValidationError("user", f"{user_name!r} owns {entity.name!r} already")
        user_id = await self._user_id(user_name)
        async with self.db.connection() as conn:
            await conn.execute(
                "INSERT INTO collaborators (entity_uri, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (entity.uri, user_id),
            )

    async def revoke(self, caller: Caller | None, entity_uri: str, user_name: str) -> None:
        user = _require_user(caller)
        entity, access, _ = await self.get_entity(caller, entity_uri)
        if not can_manage_collaborators(user, access):
            raise Forbidden(f"only the owner of {entity.name!r} or an admin may revoke collaborators")
        user_id = await self._user_id(user_name)
        async with self.db.connection() as conn:
            await conn.execute(
                "DELETE FROM collaborators WHERE entity_uri = %s AND user_id = %s", (entity.uri, user_id)
            )

    async def collaborators(self, caller: Caller | None, entity_uri: str) -> list[str]:
        """Names of the entity's collaborators (visible to whoever may see the entity)."""
        entity, _, _ = await self.get_entity(caller, entity_uri)
        async with self.db.connection() as conn:
            cur = await conn.execute(
                "SELECT u.name FROM collaborators c JOIN users u ON u.id = c.user_id"
                " WHERE c.entity_uri = %s ORDER BY u.name",
                (entity.uri,),
            )
            return [row[0] for row in await cur.fetchall()]
