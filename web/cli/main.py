"""The ``weblab`` parser, assembled from the command groups, and the entry point."""

from __future__ import annotations

import argparse
import signal

from resolvers.settings import Settings
from web.cli import backup, cache, content, db, serve, users
from web.cli.command import fail
from web.logs import configure_logging, embedded_log_path
from worker.fc import cli as fc_cli

GROUPS = (serve, db, users, content, cache, backup)
# Their log lines are what they show; any other command's output is its own summary (web/logs.py).
# They handle the stop signals themselves (web/cli/serve.py; arq's worker).
LONG_RUNNING = frozenset({"serve", "worker"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weblab",
        description="Weblab: cardiac models, protocols and experiments "
        "as linked data. Settings come from WEBLAB_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.add_commands(sub)
    fc_cli.add_commands(sub)  # the engine's commands need no settings: they run without the platform
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.command == "fc":  # the engine works without a data directory: nothing of it to log there
        configure_logging(settings.log_level)
        result: int = args.func(args)
        return result
    one_shot = args.command not in LONG_RUNNING
    configure_logging(settings.log_level, embedded_log=embedded_log_path(settings.data_dir), quiet=one_shot)
    if one_shot:
        _interrupt_on_stop_signals()
    try:
        result = args.func(args, settings)
    except KeyboardInterrupt:
        return fail("interrupted", 128 + signal.SIGINT)
    return result


def _interrupt_on_stop_signals() -> None:
    """A one-shot command told to stop by a process manager or a closed terminal unwinds as on Ctrl-C, so
    that the embedded servers it started are stopped (Python's default would end it at once)."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.default_int_handler)
