"""``weblab import`` and ``weblab run-all``: bulk work on the platform's content, from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from resolvers import accounts, runs
from resolvers.entities import Entities
from resolvers.errors import NotFound
from resolvers.importer import import_paths
from resolvers.metadata import Kind, Visibility
from resolvers.services import Services
from resolvers.settings import Settings
from web.cli.command import fail, with_services


def add_commands(sub: Any) -> None:
    parser = sub.add_parser(
        "import",
        help="bulk-import CellML models or protocols (one entity per file; unchanged files add nothing)",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to import")
    parser.add_argument(
        "--kind",
        choices=[k.value for k in Kind],
        help="kind of every file (default: from the extension: .cellml model, .txt protocol)",
    )
    parser.add_argument("--owner", required=True, help="name of the user who will own the entities")
    parser.add_argument(
        "--visibility",
        choices=[v.value for v in Visibility],
        default="public",
        help="visibility of the new versions (default public)",
    )
    parser.set_defaults(func=cmd_import)

    run_all = sub.add_parser(
        "run-all", help="queue (bulk) every latest model × latest protocol experiment that has no run yet"
    )
    run_all.add_argument(
        "--recover",
        action="store_true",
        help="first re-queue runs whose job is missing from Redis and release runs of lost workers",
    )
    run_all.set_defaults(func=cmd_run_all)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    for path in args.paths:
        if not path.exists():
            return fail(f"{path} does not exist", 2)

    async def action(services: Services) -> int:
        try:
            owner = await accounts.get_user(services.db, args.owner)
        except NotFound:
            return fail(f"no user named {args.owner!r}; create one with `weblab user add`")
        summary = await import_paths(
            Entities.from_services(services, auto_run=False),
            owner,
            args.paths,
            kind=Kind(args.kind) if args.kind else None,
            visibility=Visibility(args.visibility),
        )
        print(summary)
        for path, reason in summary.failed:
            print(f"  failed: {path}: {reason}", file=sys.stderr)
        return 1 if summary.failed else 0

    return asyncio.run(with_services(settings, action))


def cmd_run_all(args: argparse.Namespace, settings: Settings) -> int:
    async def action(services: Services) -> int:
        if args.recover:
            print(f"recovery: {await runs.recover(services)}")
        result = await runs.run_all(services)
        print(
            f"queued {len(result.queued)} runs, recorded {len(result.inapplicable)} inapplicable experiments, "
            f"skipped {result.skipped} experiments that already have a run"
        )
        return 0

    return asyncio.run(with_services(settings, action))
