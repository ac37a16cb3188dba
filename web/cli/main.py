"""The ``weblab`` parser, assembled from the command groups, and the entry point."""

from __future__ import annotations

import argparse

from resolvers.settings import Settings
from web.cli import content, db, serve, users
from web.logs import configure_logging
from worker.fc import cli as fc_cli

GROUPS = (serve, db, users, content)


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
    configure_logging(settings.log_level)
    result: int = args.func(args) if args.command == "fc" else args.func(args, settings)
    return result
