"""``weblab import`` and ``weblab run-all``: bulk work on the platform's content, from the command line.

Both work whether or not ``weblab serve`` is running on the data directory (``web/cli/command.py``'s
:func:`operate`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from resolvers import runs
from resolvers.importer import ImportSummary
from resolvers.metadata import Kind, Visibility
from resolvers.settings import Settings
from web.cli.command import fail, operate


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
    # absolute, so that a running server (which does not share our working directory) finds them too;
    # the files are named back as given when the summary is printed
    absolute = [str(Path.cwd() / path) for path in args.paths]
    as_given = dict(zip(absolute, map(str, args.paths), strict=True))
    request = {
        "paths": absolute,
        "owner": args.owner,
        "kind": args.kind,
        "visibility": args.visibility,
    }
    return operate(settings, "import", request, lambda result: show_import(result, as_given))


def show_import(result: dict[str, Any], as_given: dict[str, str]) -> int:
    summary = ImportSummary(
        result["imported"],
        result["unchanged"],
        [(_named_as_given(p, as_given), r) for p, r in result["failed"]],
    )
    print(summary)
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if summary.failed else 0


def _named_as_given(path: str, as_given: dict[str, str]) -> str:
    """``path`` (one of the absolute paths sent, or a file in one of those folders) as the user typed it."""
    if path in as_given:
        return as_given[path]
    folder = os.path.dirname(path)  # the import takes a folder's own files only, not its subfolders'
    if folder in as_given:
        return str(Path(as_given[folder]) / os.path.basename(path))
    return path


def cmd_run_all(args: argparse.Namespace, settings: Settings) -> int:
    return operate(settings, "run-all", {"recover": args.recover}, show_run_all)


def show_run_all(result: dict[str, Any]) -> int:
    if result["recovery"] is not None:
        print(f"recovery: {runs.Recovery(**result['recovery'])}")
    queued = runs.Queued(**result["queued"])
    print(
        f"queued {len(queued.queued)} runs, recorded {len(queued.inapplicable)} inapplicable experiments, "
        f"skipped {queued.skipped} experiments that already have a run"
    )
    return 0
