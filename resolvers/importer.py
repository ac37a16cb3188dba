"""Bulk import: folders of CellML models or protocols become entities, one version per changed file.

``weblab import PATH... --owner NAME [--kind K] [--visibility V]``. Each file is
one entity, named after the file's stem, owned by ``--owner``; the files it
imports (CellML ``<import xlink:href>``, protocol ``import "X.txt"``) that sit
beside it are added to the same version. Importing a file whose content has
not changed adds no version ("unchanged"), so the command can be re-run.
A folder contributes its own files, not its subfolders'.
"""

from __future__ import annotations

import logging
import posixpath
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from resolvers import accounts
from resolvers.content import cellml_imports, cellml_root, protocol_imports
from resolvers.entities import Entities
from resolvers.errors import NotFound, NothingChanged, ValidationError, WeblabError
from resolvers.metadata import Kind, Visibility
from resolvers.services import Services
from resolvers.uploads import Upload, clean_path

log = logging.getLogger(__name__)

KIND_BY_SUFFIX = {".cellml": Kind.MODEL, ".txt": Kind.PROTOCOL, ".csv": Kind.DATASET}
DEMO_OWNER = "weblab"
DEMO_FOLDERS = (Path("cellml"), Path("fc") / "protocols" / "real")


@dataclass
class ImportSummary:
    imported: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.imported} imported, {self.unchanged} unchanged, {len(self.failed)} failed"


def kind_of(path: Path, kind: Kind | None) -> Kind:
    if kind is not None:
        return kind
    try:
        return KIND_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise ValidationError(str(path), "cannot tell the kind from the extension; pass --kind") from None


def collect(paths: Iterable[Path], kind: Kind | None) -> list[Path]:
    """The files to import: files named directly, and the importable files directly inside named folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            wanted = {s for s, k in KIND_BY_SUFFIX.items() if kind is None or k is kind}
            found.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in wanted and not p.name.startswith(".")
                )
            )
        else:
            found.append(path)
    return found


def _imports(kind: Kind, path: str, data: bytes) -> list[str]:
    try:
        if kind is Kind.MODEL:
            if b"import" not in data:
                return []  # most models import nothing: skip parsing them twice
            root, _ = cellml_root(data, path)
            return cellml_imports(root)
        if kind is Kind.PROTOCOL:
            return protocol_imports(data.decode("utf-8", "replace"))
    except ValidationError:
        return []  # the version check reports it with the file name
    return []


def gather(kind: Kind, path: Path) -> list[Upload]:
    """The file and, transitively, the files it imports that exist in its folder (standard libraries stay out)."""
    folder = path.parent
    uploads: dict[str, bytes] = {}
    pending = [path.name]
    while pending:
        rel = pending.pop()
        if rel in uploads:
            continue
        data = (folder / rel).read_bytes()
        uploads[rel] = data
        for href in _imports(kind, rel, data):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(rel), href))
            try:
                target = clean_path(target, str(path))
            except ValidationError:
                continue  # outside the folder: not ours to bundle
            if (folder / target).is_file():
                pending.append(target)
    return [Upload(name, data) for name, data in uploads.items()]


async def import_paths(
    entities: Entities,
    owner: Any,
    paths: Sequence[Path],
    *,
    kind: Kind | None = None,
    visibility: Visibility = Visibility.PUBLIC,
    progress: bool = True,
) -> ImportSummary:
    """Import every file under ``paths`` as ``owner``'s; failures are collected with their reason, not raised."""
    summary = ImportSummary()
    files = collect(paths, kind)
    autoflush, entities.autoflush = entities.autoflush, False  # one flush at the end, not one per version
    try:
        await _import_files(entities, owner, files, kind, visibility, progress, summary)
    finally:
        entities.autoflush = autoflush
        entities.flush()
    return summary


async def _import_files(
    entities: Entities,
    owner: Any,
    files: list[Path],
    kind: Kind | None,
    visibility: Visibility,
    progress: bool,
    summary: ImportSummary,
) -> None:
    for path in tqdm(files, desc="importing", unit="file", disable=not progress, file=sys.stderr):
        try:
            k = kind_of(path, kind)
            uploads = gather(k, path)
            name = path.stem
            message = f"Imported from {path.name}"
            existing = entities.find_entity(k, owner.name, name)
            if existing is None:
                await entities.publish(
                    owner, k, name, uploads, message=message, main=path.name, visibility=visibility
                )
            else:
                await entities.add_version(
                    owner, existing.uri, uploads, message=message, main=path.name, visibility=visibility
                )
            summary.imported += 1
        except NothingChanged:
            summary.unchanged += 1
        except WeblabError as e:
            summary.failed.append((str(path), e.message))
        except OSError as e:
            summary.failed.append((str(path), f"cannot be read ({e.strerror or e})"))
        except Exception as e:  # noqa: BLE001 - one file's unexpected failure must not stop a bulk import
            log.exception("importing %s failed", path)
            summary.failed.append((str(path), f"unexpected error ({type(e).__name__}: {e}); see the log"))


async def demo_owner(db: Any) -> accounts.User:
    """The user that owns the demo corpus, created (with an unusable random password) on first use."""
    try:
        return await accounts.get_user(db, DEMO_OWNER)
    except NotFound:
        return await accounts.create_user(
            db, DEMO_OWNER, "weblab@localhost.localdomain", secrets.token_urlsafe(32)
        )


async def import_demo(services: Services, data_dir: Path) -> ImportSummary:
    """Import the demo corpus (``cellml/`` and ``fc/protocols/real/`` under ``data_dir``, when present), public."""
    folders = [data_dir / f for f in DEMO_FOLDERS if (data_dir / f).is_dir()]
    if not folders:
        log.warning("no demo corpus under %s", data_dir)
        return ImportSummary()
    owner = await demo_owner(services.db)
    return await import_paths(
        Entities.from_services(services, auto_run=False), owner, folders, progress=False
    )
