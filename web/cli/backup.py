"""``weblab backup FILE`` and ``weblab restore FILE``: a deployment's data in one archive, and back.

The archive (a gzipped tar) holds everything the platform keeps: PostgreSQL's tables (CSV, read in one
REPEATABLE READ transaction), the triple store as N-Quads, the entity repositories and the run archives,
with a ``manifest.json`` saying what is in it. Both commands need every Weblab process on the data directory
stopped (as ``weblab rebase`` does), which is what makes the snapshot consistent: nothing writes meanwhile.

A restore goes into an empty deployment only (no users, runs or entities yet: a fresh data directory and
database), under the same base URI the backup was written under (``weblab rebase`` moves it afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pyoxigraph as ox

from resolvers import db
from resolvers.services import Services
from resolvers.settings import Settings
from web.cli.command import fail

FORMAT = 1
# In the order a restore writes them: each table's references come before it.
TABLES = ("users", "api_tokens", "sessions", "collaborators", "runs")
SERIAL = {"users": "id", "api_tokens": "id", "sessions": "id"}
FOLDERS = ("repos", "archives")


class BackupError(Exception):
    """The archive or the target cannot be used; the message says why."""


def add_commands(sub: Any) -> None:
    backup = sub.add_parser(
        "backup", help="write the deployment's data to one archive (stop the servers first)"
    )
    backup.add_argument("file", type=Path, help="the archive to write (.tar.gz)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="load a backup into an empty deployment (stop the servers first)"
    )
    restore.add_argument("file", type=Path, help="an archive written by weblab backup")
    restore.set_defaults(func=cmd_restore)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_with_services(settings, lambda services: backup(services, args.file)))


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    if not args.file.is_file():
        return fail(f"{args.file} does not exist", 2)
    return asyncio.run(_with_services(settings, lambda services: restore(services, args.file)))


async def _with_services(settings: Settings, action: Any) -> int:
    from web.services import StartupError, start_services

    try:
        services = await start_services(settings)
    except StartupError as exc:
        return fail(f"{exc} (backup and restore need every Weblab process on the data directory stopped)")
    try:
        print(await action(services))
    except BackupError as exc:
        return fail(str(exc))
    finally:
        await services.close()
    return 0


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))


async def _tables(services: Services) -> dict[str, bytes]:
    """Every table as CSV, all read in one snapshot of the database."""
    out: dict[str, bytes] = {}
    async with services.db.connection() as conn, conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for table in TABLES:
            buffer = bytearray()
            async with conn.cursor().copy(
                f"COPY (SELECT * FROM {table}) TO STDOUT WITH (FORMAT csv, HEADER)"
            ) as copy:
                async for chunk in copy:
                    buffer += chunk
            out[table] = bytes(buffer)
    return out


def _rows(table_csv: bytes) -> int:
    """Rows of a table's CSV, header left out (a quoted field may hold line breaks: a run's error, say)."""
    return max(0, sum(1 for _ in csv.reader(io.StringIO(table_csv.decode("utf-8")))) - 1)


def _store_nquads(services: Services) -> bytes:
    return ox.serialize(services.store.quads(), format=ox.RdfFormat.N_QUADS) or b""


async def backup(services: Services, file: Path) -> str:
    settings = services.settings
    tables = await _tables(services)
    store = await asyncio.to_thread(_store_nquads, services)
    version = await db.current_version(services.db)
    files = [
        path
        for folder in FOLDERS
        if (settings.files / folder).is_dir()
        for path in sorted((settings.files / folder).rglob("*"))
        if path.is_file()
    ]
    manifest = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(),
        "base_uri": settings.base_uri,
        "database_version": version,
        "rows": {t: _rows(data) for t, data in tables.items()},
        "quads": store.count(b"\n"),
        "files": len(files),
    }
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        _add(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
        for table, data in tables.items():
            _add(tar, f"db/{table}.csv", data)
        _add(tar, "store.nq", store)
        for path in files:
            tar.add(path, arcname=path.relative_to(settings.files).as_posix(), recursive=False)
    partial.replace(file)  # a backup interrupted half-way leaves no archive that looks whole
    rows = ", ".join(f"{n} {t}" for t, n in manifest["rows"].items())
    return f"backed up to {file}: {rows}; {manifest['quads']} quads; {len(files)} files"


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    member = tar.extractfile(name)
    if member is None:
        raise BackupError(f"the archive has no {name}: not a backup written by weblab backup")
    return member.read()


async def _check_empty(services: Services) -> None:
    async with services.db.connection() as conn:
        for table in ("users", "runs"):
            cur = await conn.execute(f"SELECT count(*) FROM {table}")
            row = await cur.fetchone()
            if row is not None and row[0]:
                raise BackupError(f"the database already holds {table}: restore needs an empty deployment")
    for folder in FOLDERS:
        path = services.settings.files / folder
        if path.is_dir() and any(path.iterdir()):
            raise BackupError(f"{path} is not empty: restore needs an empty data directory")


async def _load_tables(services: Services, tar: tarfile.TarFile) -> None:
    async with services.db.connection() as conn, conn.transaction():
        for table in TABLES:
            data = _read(tar, f"db/{table}.csv")
            async with conn.cursor().copy(f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
                await copy.write(data)
        for table, column in SERIAL.items():
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), coalesce(max({column}), 0) + 1, false)"
                f" FROM {table}"
            )


def _safe_member(member: tarfile.TarInfo) -> bool:
    path = PurePosixPath(member.name)
    return member.isfile() and not path.is_absolute() and ".." not in path.parts and path.parts[0] in FOLDERS


async def restore(services: Services, file: Path) -> str:
    settings = services.settings
    with tarfile.open(file, "r:gz") as tar:
        manifest = json.loads(_read(tar, "manifest.json"))
        if manifest.get("format") != FORMAT:
            raise BackupError(
                f"{file} is a backup of format {manifest.get('format')!r}; this Weblab reads {FORMAT}"
            )
        if manifest["base_uri"] != settings.base_uri:
            raise BackupError(
                f"the backup was written under {manifest['base_uri']} and this deployment serves "
                f"{settings.base_uri}: restore with WEBLAB_BASE_URI={manifest['base_uri']}, then `weblab rebase "
                f"{manifest['base_uri']} {settings.base_uri}`"
            )
        if manifest["database_version"] > await db.current_version(services.db):
            raise BackupError(
                "the backup comes from a newer Weblab (its database has migrations this one lacks)"
            )
        await _check_empty(services)
        quads = list(ox.parse(_read(tar, "store.nq"), format=ox.RdfFormat.N_QUADS))
        members = [m for m in tar.getmembers() if m.name not in ("manifest.json", "store.nq")]
        unsafe = [m.name for m in members if not m.name.startswith("db/") and not _safe_member(m)]
        if unsafe:
            raise BackupError(f"the archive holds paths a backup never writes: {unsafe[:5]}")
        await _load_tables(services, tar)
        # the store held only what every start writes (the ontologies, the registry): the backup's own copy wins
        await asyncio.to_thread(services.store.update, "DROP SILENT ALL")
        await asyncio.to_thread(services.store.oxigraph.extend, quads)
        if hasattr(services.store, "flush"):
            await asyncio.to_thread(services.store.flush)
        for member in members:
            if _safe_member(member):
                tar.extract(member, settings.files, filter="data")
    rows = ", ".join(f"{n} {t}" for t, n in manifest["rows"].items())
    return (
        f"restored {file} (made {manifest['created']}): {rows}; {len(quads)} quads; {manifest['files']} files"
    )
