"""The git layer: one bare repository per entity, one commit per version.

Versions live on ``refs/heads/main`` (linear history); tags are ``refs/tags/<name>``.
A version is written in two steps so that the caller can keep git and the triple
store together: :meth:`EntityRepository.write_commit` creates the commit object
without moving any ref (invisible, and garbage if abandoned), then
:meth:`EntityRepository.advance` moves ``main`` to it, and
:meth:`EntityRepository.rewind` moves it back if the store write fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from resolvers.errors import Conflict, NotFound

MAIN = "refs/heads/main"


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int


class Repositories:
    """Where the entity repositories live: ``<root>/<kind segment>/<id>.git``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, segment: str, entity_id: str) -> Path:
        return self.root / segment / f"{entity_id}.git"

    def create(self, segment: str, entity_id: str) -> EntityRepository:
        path = self.path(segment, entity_id)
        if path.exists():
            raise Conflict(f"a repository for {segment}/{entity_id} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
        return EntityRepository(repo)

    def open(self, segment: str, entity_id: str) -> EntityRepository:
        path = self.path(segment, entity_id)
        if not path.exists():
            raise NotFound(f"{segment}/{entity_id} has no repository")
        return EntityRepository(pygit2.Repository(str(path)))

    def remove(self, segment: str, entity_id: str) -> None:
        """Delete a repository: renamed away first so a half-deleted one is never seen."""
        path = self.path(segment, entity_id)
        if not path.exists():
            return
        trash = path.with_name(f".deleted-{uuid.uuid4().hex}")
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


class EntityRepository:
    """One entity's bare repository."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo

    def head(self) -> str | None:
        """The commit SHA of the newest version, or None before the first."""
        try:
            return str(self.repo.lookup_reference(MAIN).target)
        except KeyError:
            return None

    def write_tree(self, files: dict[str, bytes]) -> str:
        """The tree holding exactly ``files`` (path → content); objects already stored are shared, not duplicated."""
        index = pygit2.Index()
        for path, data in sorted(files.items()):
            index.add(pygit2.IndexEntry(path, self.repo.create_blob(data), FileMode.BLOB))
        return str(index.write_tree(self.repo))

    def write_commit(
        self, tree: str, message: str, author: str, email: str, when: datetime, parent: str | None
    ) -> str:
        """A commit of ``tree``, not yet on any ref (so invisible until :meth:`advance`)."""
        utc_offset = when.utcoffset()
        offset = int(utc_offset.total_seconds() // 60) if utc_offset else 0
        signature = pygit2.Signature(author, email, int(when.timestamp()), offset)
        parents = [pygit2.Oid(hex=parent)] if parent else []
        oid = self.repo.create_commit(None, signature, signature, message, pygit2.Oid(hex=tree), parents)
        return str(oid)

    def tree_id(self, sha: str) -> str:
        return str(self._commit(sha).tree_id)

    @contextlib.contextmanager
    def _refs_locked(self) -> Iterator[None]:
        """Held while ``main`` is compared and moved: web servers sharing the repositories (``WEBLAB_FILES_DIR``)
        are separate processes, and pygit2 has no compare-and-swap of a reference. POSIX record locks (lockf)
        work over NFS too."""
        with open(Path(self.repo.path) / "weblab-refs.lock", "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(lock, fcntl.LOCK_UN)

    def advance(self, sha: str, expected: str | None) -> None:
        """Move ``main`` to ``sha``, refusing if anyone (in any process) moved it since ``expected`` was read."""
        with self._refs_locked():
            if self.head() != expected:
                raise Conflict("another version was added at the same time; try again")
            self.repo.references.create(MAIN, pygit2.Oid(hex=sha), force=True)

    def rewind(self, previous: str | None, *, from_sha: str) -> None:
        """Put ``main`` back to ``previous`` (None: delete it, the repository had no versions), if it is still at
        ``from_sha``: a version another process added meanwhile stays."""
        with self._refs_locked():
            if self.head() != from_sha:
                return
            if previous is None:
                if MAIN in self.repo.references:
                    self.repo.references.delete(MAIN)
            else:
                self.repo.references.create(MAIN, pygit2.Oid(hex=previous), force=True)

    def set_tag(self, name: str, sha: str) -> None:
        ref = f"refs/tags/{name}"
        if not pygit2.reference_is_valid_name(ref):
            raise ValueError(f"{name!r} is not a valid tag name")
        self.repo.references.create(ref, pygit2.Oid(hex=sha), force=True)

    def delete_tag(self, name: str) -> None:
        ref = f"refs/tags/{name}"
        if ref in self.repo.references:
            self.repo.references.delete(ref)

    def _commit(self, sha: str) -> pygit2.Commit:
        try:
            obj = self.repo[sha]
        except (KeyError, ValueError) as e:
            raise NotFound(f"no commit {sha}") from e
        if not isinstance(obj, pygit2.Commit):
            raise NotFound(f"{sha} is not a commit")
        return obj

    def _walk(self, tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, pygit2.Blob]]:
        for entry in tree:
            path = prefix + (entry.name or "")
            obj = self.repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                yield from self._walk(obj, path + "/")
            elif isinstance(obj, pygit2.Blob):
                yield path, obj

    def files(self, sha: str) -> list[FileEntry]:
        """Every file of a version (manifest included), sorted by path."""
        return [FileEntry(path, blob.size) for path, blob in self._walk(self._commit(sha).tree)]

    def read(self, sha: str, path: str) -> bytes:
        tree = self._commit(sha).tree
        try:
            entry = tree[path]
        except KeyError as e:
            raise NotFound(f"no file {path!r} in version {sha[:12]}") from e
        obj = self.repo[entry.id]
        if not isinstance(obj, pygit2.Blob):
            raise NotFound(f"{path!r} is a folder in version {sha[:12]}")
        return obj.data

    def read_all(self, sha: str) -> dict[str, bytes]:
        return {path: blob.data for path, blob in self._walk(self._commit(sha).tree)}

    def diff(self, old: str, new: str) -> str:
        """Unified diff of two versions' files (binary files are named, not shown)."""
        patch = self.repo.diff(self._commit(old), self._commit(new), context_lines=3).patch
        return patch or ""
