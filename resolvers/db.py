"""PostgreSQL: the connection pool and the migration runner.

Migrations are the numbered ``resolvers/migrations/NNNN_name.sql`` files, applied
in order, each in its own transaction, under an advisory lock so that two
processes starting at once do not both apply them. Applied versions are kept in
``schema_migrations``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_ID = 0x5745424C  # "WEBL"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached at the configured URL."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot connect to PostgreSQL at {redact(url)}: {reason}")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a number in {directory}")
    return found


async def check_connection(url: str, timeout: float = 5.0) -> None:
    """Fail fast, with the URL and the reason, when PostgreSQL is not there."""
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        raise DatabaseUnavailable(
            url, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        ) from exc
    await conn.close()


async def open_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncConnectionPool:
    await check_connection(url)
    # check= validates a connection when it is handed out, so that after PostgreSQL restarts
    # requests get fresh connections instead of the dead ones left in the pool.
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=5.0,
        kwargs={"autocommit": True},
        check=AsyncConnectionPool.check_connection,
        reconnect_timeout=24 * 3600,
    )
    await pool.open(wait=True, timeout=10.0)
    return pool


async def migrate(pool: AsyncConnectionPool, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the migrations not applied yet; return those applied now."""
    applied_now = []
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in await cur.fetchall()}
            for migration in migrations(directory):
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                log.info("applied migration %04d_%s", migration.version, migration.name)
                applied_now.append(migration)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


async def current_version(pool: AsyncConnectionPool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        row = await cur.fetchone()
        return int(row[0]) if row else 0
