"""``weblab serve`` and ``weblab worker``: the two long-running processes of a deployment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType
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


# What a terminal or a process manager sends to stop a process. Python's default for SIGHUP and SIGQUIT ends
# it at once, and for SIGTERM uvicorn's handler comes only once the services are up: either way the embedded
# PostgreSQL and Redis, which are processes of their own, would be left running.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    stop = StopRequests()
    with stop.handling(STOP_SIGNALS):
        status = asyncio.run(_serve(settings, import_demo=not args.no_demo, stop=stop))
    return stop.exit(status)


class StopRequests:
    """The stop signals received. Before uvicorn serves they wait: a start interrupted halfway would leave a
    server behind, so it finishes and then everything stops; once it serves, they go to uvicorn."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._forward: Callable[[int, FrameType | None], None] | None = None

    @contextlib.contextmanager
    def handling(self, signals: tuple[signal.Signals, ...]) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._receive) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def forward_to(self, handler: Callable[[int, FrameType | None], None]) -> None:
        self._forward = handler
        for sig in self.received:
            handler(sig, None)

    def _receive(self, sig: int, frame: FrameType | None) -> None:
        if not self.received and self._forward is None:
            log.info("%s received: stopping once the services have started", signal.Signals(sig).name)
        self.received.append(sig)
        if self._forward is not None:
            self._forward(sig, frame)

    def exit(self, status: int) -> int:
        """After a stop by signal, die of it, as a process manager expects of a clean stop (uvicorn does
        the same); SIGQUIT's default would dump core, so that one is a plain exit."""
        if self.received and self.received[0] != signal.SIGQUIT:
            signal.signal(self.received[0], signal.SIG_DFL)
            signal.raise_signal(self.received[0])
        return status


async def _serve(settings: Settings, import_demo: bool, stop: StopRequests) -> int:
    import uvicorn

    from web.app import create_app
    from web.services import StartupError, start_services

    try:
        services = await start_services(settings)
    except StartupError as exc:
        return fail(str(exc))
    if stop.received:
        await services.close()
        return 0
    app = create_app(settings, services, close_services=True)
    if import_demo and settings.import_demo:
        app.state.startup_hooks.append(_demo_import_hook(settings))
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, lifespan="on", proxy_headers=True
    )
    server = uvicorn.Server(config)
    stop.forward_to(server.handle_exit)
    try:
        await server.serve()
    finally:
        # the lifespan closes the services; not when its start failed, nor on a forced (second Ctrl-C) exit
        await asyncio.to_thread(services.stop)
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
    if not settings.secret_key and not (settings.data_dir / "secret_key").exists():
        # a key made up here would sign callbacks the server refuses, every one of them
        return fail(
            "weblab worker needs the web server's secret key: set WEBLAB_SECRET_KEY to it (the server keeps it "
            "in its DATA_DIR/secret_key unless WEBLAB_SECRET_KEY is set there too), or run the worker with "
            "the server's WEBLAB_DATA_DIR"
        )
    run_worker(settings.redis_url, settings.queue_name, settings)
    return 0
