"""``weblab fc``: run, inspect and check functional-curation protocols from the command line.

::

    weblab fc run PROTOCOL MODEL -o DIR [--input NAME=VALUE ...]
        Run one experiment; writes outputs_<name>.csv, outputs-contents.csv and
        outputs-default-plots.csv (and errors.txt if anything failed) into DIR,
        printing a progress line per top-level task.  VALUE is a number, a list
        like [1, 2, 3], or any protocol-language expression.  Exit status: 0
        success, 1 partial, failed or inapplicable, 2 unreadable input.

    weblab fc interface PROTOCOL
        Print the protocol's interface as JSON: required and optional ontology
        terms (full IRIs), inputs with defaults, outputs with units.

    weblab fc check PROTOCOL MODEL
        Exit 0 if the protocol applies to the model, 1 listing the missing
        terms if not, 2 if either file cannot be read or parsed.

The module is imported by ``web.cli`` when building the ``weblab`` parser,
so it imports the engine only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_commands(subparsers: Any) -> None:
    """Add the ``fc`` command group to the ``weblab`` parser."""
    fc = subparsers.add_parser("fc", help="functional-curation protocols: run, interface, check")
    sub = fc.add_subparsers(dest="fc_command", required=True, metavar="ACTION")

    run = sub.add_parser("run", help="run a protocol on a model and write its outputs")
    run.add_argument("protocol", help="protocol file (compact syntax)")
    run.add_argument("model", help="CellML model file")
    run.add_argument("-o", "--output", required=True, help="folder to write the outputs into")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a protocol input (may be repeated)",
    )
    run.set_defaults(func=cmd_run)

    interface = sub.add_parser("interface", help="print the protocol's interface as JSON")
    interface.add_argument("protocol")
    interface.set_defaults(func=cmd_interface)

    check = sub.add_parser("check", help="check whether a protocol applies to a model")
    check.add_argument("protocol")
    check.add_argument("model")
    check.set_defaults(func=cmd_check)


def parse_inputs(items: list[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--input {item!r} must look like NAME=VALUE")
        inputs[name.strip()] = value.strip()
    return inputs


def _unreadable(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    from .errors import FcError
    from .protocol import load_protocol

    if not Path(args.model).is_file():
        return _unreadable(f"cannot read model file {args.model}")
    try:
        protocol = load_protocol(args.protocol, parse_inputs(args.input))
    except (FcError, ValueError) as exc:
        return _unreadable(str(exc))

    def progress(done: int, total: int, label: str) -> None:
        if done < total or total == 0:
            print(f"[{done + 1}/{total}] running {label}", flush=True)
        else:
            print(f"[{done}/{total}] finished {label}", flush=True)

    result = protocol.run(args.model, Path(args.output), progress=progress)
    for message in result.messages:
        print(message, file=sys.stderr)
    if result.status == "inapplicable":
        print("inapplicable: the model lacks " + ", ".join(result.missing_terms))
    print(f"{result.status}: {len(result.outputs)} output(s) written to {args.output}")
    return 0 if result.status == "success" else 1


def cmd_interface(args: argparse.Namespace) -> int:
    from .errors import FcError
    from .protocol import load_protocol

    try:
        interface = load_protocol(args.protocol).interface()
    except FcError as exc:
        return _unreadable(str(exc))
    print(json.dumps(interface.to_json(), indent=2))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .errors import FcError
    from .protocol import load_protocol

    if not Path(args.model).is_file():
        return _unreadable(f"cannot read model file {args.model}")
    try:
        missing = load_protocol(args.protocol).missing_terms(args.model)
    except FcError as exc:
        return _unreadable(str(exc))
    except Exception as exc:  # noqa: BLE001 - an unreadable model (bad XML, bad CellML) is exit 2
        return _unreadable(f"cannot load model {args.model}: {exc}")
    if missing:
        print("incompatible: the model lacks these terms:")
        for term in missing:
            print(f"  {term}")
        return 1
    print("compatible")
    return 0
