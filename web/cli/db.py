"""``weblab db upgrade`` and ``weblab rebase``: maintenance of the data, with every Weblab process stopped."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from resolvers.settings import Settings
from web.cli.command import fail


def add_commands(sub: Any) -> None:
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply pending migrations")
    upgrade.set_defaults(func=cmd_db)

    rebase = sub.add_parser(
        "rebase",
        help="rewrite the store and database from one base URI to another (stop every Weblab process first)",
    )
    rebase.add_argument("old", help="the base URI the data was written under")
    rebase.add_argument("new", help="the base URI to serve it under (WEBLAB_BASE_URI from then on)")
    rebase.set_defaults(func=cmd_rebase)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_db_upgrade(settings))


async def _db_upgrade(settings: Settings) -> int:
    from resolvers import db
    from web.embedded import EmbeddedServices, start_postgres

    embedded = EmbeddedServices()
    try:
        url = settings.database_url or start_postgres(settings.data_dir, embedded)
        try:
            pool = await db.open_pool(url, max_size=1)
        except db.DatabaseUnavailable as exc:
            return fail(str(exc))
        try:
            applied = await db.migrate(pool)
            version = await db.current_version(pool)
        finally:
            await pool.close()
    finally:
        embedded.stop()
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "none"
    print(f"database at version {version}; applied now: {names}")
    return 0


def cmd_rebase(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_rebase(settings, args.old, args.new))


_REBASED_COLUMNS = (
    ("collaborators", "entity_uri"),
    ("runs", "experiment_uri"),
    ("runs", "model_version_uri"),
    ("runs", "protocol_version_uri"),
)


async def _rebase(settings: Settings, old: str, new: str) -> int:
    """Rewrite the database's URIs in one transaction that commits only once the store's one update succeeded."""
    from resolvers import db
    from sparql import registry
    from sparql.store import open_triple_store
    from web.embedded import EmbeddedServices, start_postgres

    old, new = old.rstrip("/") + "/", new.rstrip("/") + "/"
    for uri in (old, new):
        if not uri.startswith(("http://", "https://")):
            return fail(f"{uri!r} is not an http(s) base URI", 2)
    try:
        store = open_triple_store(settings.store_dir, settings.sparql_url)
    except Exception as exc:  # pyoxigraph says "LOCK" in an OSError when another process holds the store
        return fail(
            f"cannot open the triple store ({exc}); stop every Weblab process on this data directory first"
        )
    embedded = EmbeddedServices()
    try:
        url = settings.database_url or start_postgres(settings.data_dir, embedded)
        pool = await db.open_pool(url, max_size=1)
        try:
            await db.migrate(pool)
            async with pool.connection() as conn, conn.transaction():
                rows = 0
                for table, column in _REBASED_COLUMNS:
                    cur = await conn.execute(
                        f"UPDATE {table} SET {column} = %(new)s || substr({column}, length(%(old)s) + 1) "
                        f"WHERE starts_with({column}, %(old)s)",
                        {"old": old, "new": new},
                    )
                    rows += cur.rowcount
                # raises before the database commits: a refused or failed rewrite leaves both as they were
                await asyncio.to_thread(registry.rebase_store, store, old, new)
        finally:
            await pool.close()
    except (db.DatabaseUnavailable, ValueError) as exc:
        return fail(str(exc))
    finally:
        store.close()
        embedded.stop()
    print(
        f"rebased from {old} to {new}: the triple store, and {rows} database rows; "
        f"start the platform with WEBLAB_BASE_URI={new}"
    )
    return 0
