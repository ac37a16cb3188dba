"""``weblab serve`` and ``weblab worker``: the two long-running processes of a deployment."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from resolvers.services import Services
from resolvers.settings import Settings
from web.cli.command import fail

log = logging.getLogger("weblab")


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the platform (starts embedded services when no URLs are set)")
    serve.add_argument("--host", help="address to listen on (default WEBLAB_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default WEBLAB_PORT or 8000)")
    serve.add_argument("--no-demo", action="store_true", help="do not import the demo corpus on first start")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a standalone experiment worker (needs WEBLAB_REDIS_URL)")
    worker.set_defaults(func=cmd_worker)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    return asyncio.run(_serve(settings, import_demo=not args.no_demo))


async def _serve(settings: Settings, import_demo: bool) -> int:
    import uvicorn

    from web.app import create_app
    from web.services import StartupError, start_services

    try:
        services = await start_services(settings)
    except StartupError as exc:
        return fail(str(exc))
    app = create_app(settings, services, close_services=True)
    if import_demo and settings.import_demo:
        app.state.startup_hooks.append(_demo_import_hook(settings))
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, lifespan="on", proxy_headers=True
    )
    await uvicorn.Server(config).serve()
    return 0


def _demo_import_hook(settings: Settings) -> Callable[[Services], Awaitable[None]]:
    """Imports the demo corpus on the first start only (a marker file in the data directory)."""
    from resolvers.importer import import_demo

    async def hook(services: Services) -> None:
        marker = settings.data_dir / "demo-imported"
        if marker.exists():
            return
        summary = await import_demo(services, settings.demo_dir)
        log.info("demo corpus imported: %s", summary)
        marker.write_text(str(summary))

    return hook


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from worker.queue import run_worker

    if not settings.redis_url:
        return fail("weblab worker needs WEBLAB_REDIS_URL (the embedded default runs its worker in-process)")
    run_worker(settings.redis_url, settings.queue_name, settings)
    return 0
