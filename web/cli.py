"""The ``weblab`` command. Every subcommand is documented in README.md (tests/test_docs.py checks)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

from resolvers.services import Services
from resolvers.settings import Settings

log = logging.getLogger("weblab")


def _fail(message: str, code: int = 1) -> int:
    print(f"weblab: error: {message}", file=sys.stderr)
    return code


# --- serve / worker / db ----------------------------------------------------------------------

async def _serve(settings: Settings, import_demo: bool) -> int:
    import uvicorn

    from web.app import create_app
    from web.services import StartupError, start_services

    try:
        services = await start_services(settings)
    except StartupError as exc:
        return _fail(str(exc))
    app = create_app(settings, services, close_services=True)
    if import_demo and settings.import_demo:
        app.state.startup_hooks.append(_demo_import_hook(settings))
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                            lifespan="on", proxy_headers=True)
    await uvicorn.Server(config).serve()
    return 0


def _demo_import_hook(settings: Settings) -> Callable[[Any], Any]:
    """Imports the demo corpus on the first start only (a marker file in the data directory)."""

    async def hook(services: Services) -> None:
        marker = settings.data_dir / "demo-imported"
        if marker.exists():
            return
        try:
            from resolvers.importer import import_demo
        except ImportError:
            return
        summary = await import_demo(services, settings.demo_dir)
        log.info("demo corpus imported: %s", summary)
        marker.write_text(str(summary))

    return hook


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    return asyncio.run(_serve(settings, import_demo=not args.no_demo))


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from worker.queue import run_worker

    if not settings.redis_url:
        return _fail("weblab worker needs WEBLAB_REDIS_URL (the embedded default runs its worker in-process)")
    run_worker(settings.redis_url, settings.queue_name, settings)
    return 0


async def _db_upgrade(settings: Settings) -> int:
    from resolvers import db
    from web.embedded import EmbeddedServices, start_postgres

    embedded = EmbeddedServices()
    try:
        url = settings.database_url or start_postgres(settings.data_dir, embedded)
        try:
            pool = await db.open_pool(url, max_size=1)
        except db.DatabaseUnavailable as exc:
            return _fail(str(exc))
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


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_db_upgrade(settings))


async def _with_services(settings: Settings, action: Callable[[Any], Any]) -> int:
    """Runs ``action(services)`` with the platform's services (embedded ones started and stopped)."""
    from resolvers.errors import WeblabError
    from web.services import StartupError, start_services

    try:
        services = await start_services(settings)
    except StartupError as exc:
        return _fail(str(exc))
    try:
        result = await action(services)
    except WeblabError as exc:
        return _fail(exc.message)
    finally:
        await services.close()
    return int(result or 0)


def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    from resolvers import accounts

    password = sys.stdin.readline().rstrip("\n")
    if not password:
        return _fail("give the password on standard input, e.g. `echo 'secret pw' | weblab user add ...`", 2)

    async def action(services: Services) -> int:
        user = await accounts.create_user(services.db, args.name, args.email, password, frozenset(args.role or ()))
        roles = ", ".join(sorted(user.roles)) or "no roles"
        print(f"created user {user.name} <{user.email}> ({roles})")
        return 0

    return asyncio.run(_with_services(settings, action))


# --- rebase -------------------------------------------------------------------------------------

_REBASED_COLUMNS = (("collaborators", "entity_uri"), ("runs", "experiment_uri"), ("runs", "model_version_uri"),
                    ("runs", "protocol_version_uri"))


async def _rebase(settings: Settings, old: str, new: str) -> int:
    """Rewrite the database's URIs in one transaction that commits only once the store's one update succeeded."""
    from resolvers import db
    from sparql import registry
    from sparql.store import open_triple_store
    from web.embedded import EmbeddedServices, start_postgres

    old, new = old.rstrip("/") + "/", new.rstrip("/") + "/"
    for uri in (old, new):
        if not uri.startswith(("http://", "https://")):
            return _fail(f"{uri!r} is not an http(s) base URI", 2)
    try:
        store = open_triple_store(settings.store_dir, settings.sparql_url)
    except Exception as exc:  # pyoxigraph says "LOCK" in an OSError when another process holds the store
        return _fail(f"cannot open the triple store ({exc}); stop every Weblab process on this data directory first")
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
                        f"WHERE starts_with({column}, %(old)s)", {"old": old, "new": new})
                    rows += cur.rowcount
                # raises before the database commits: a refused or failed rewrite leaves both as they were
                await asyncio.to_thread(registry.rebase_store, store, old, new)
        finally:
            await pool.close()
    except (db.DatabaseUnavailable, ValueError) as exc:
        return _fail(str(exc))
    finally:
        store.close()
        embedded.stop()
    print(f"rebased from {old} to {new}: the triple store, and {rows} database rows; "
          f"start the platform with WEBLAB_BASE_URI={new}")
    return 0


def cmd_rebase(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_rebase(settings, args.old, args.new))


# --- the parser -------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weblab", description="Weblab: cardiac models, protocols and experiments "
                                     "as linked data. Settings come from WEBLAB_* environment variables.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the platform (starts embedded services when no URLs are set)")
    serve.add_argument("--host", help="address to listen on (default WEBLAB_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default WEBLAB_PORT or 8000)")
    serve.add_argument("--no-demo", action="store_true", help="do not import the demo corpus on first start")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a standalone experiment worker (needs WEBLAB_REDIS_URL)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply pending migrations")
    upgrade.set_defaults(func=cmd_db)

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user; the password is read from standard input")
    add.add_argument("name")
    add.add_argument("--email", required=True)
    add.add_argument("--role", action="append", choices=["admin", "moderator"], help="may be repeated")
    add.set_defaults(func=cmd_user_add)

    rebase = sub.add_parser("rebase", help="rewrite the store and database from one base URI to another "
                            "(stop every Weblab process first)")
    rebase.add_argument("old", help="the base URI the data was written under")
    rebase.add_argument("new", help="the base URI to serve it under (WEBLAB_BASE_URI from then on)")
    rebase.set_defaults(func=cmd_rebase)

    for module in ("resolvers.importer", "worker.fc.cli", "resolvers.runs"):
        try:
            extension = __import__(module, fromlist=["add_commands"])
        except ImportError:
            continue
        if hasattr(extension, "add_commands"):
            extension.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    from web.logs import configure_logging

    configure_logging(settings.log_level)
    func = args.func
    if getattr(func, "__module__", "") == __name__:
        return func(args, settings)
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
