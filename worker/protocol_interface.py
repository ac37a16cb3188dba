"""Reading an uploaded protocol's interface, in the child processes that :mod:`resolvers.describe` keeps.

It lives here, beside the engine, rather than in ``resolvers``: the child imports
only this module and the engine (which its forkserver has imported already), not
the platform above it. The answer is plain data, one of

- ``{"interface": ...}``: the interface's JSON;
- ``{"syntax": {"file", "line", "column", "message", "expected"}}``: a protocol file of the version does
  not parse;
- ``{"memory": "..."}``: it needed more memory than the child may have;
- ``{"error": "..."}``: any other reason it could not be loaded.

Paths in messages are relative to the version: the private folder it was copied to is not shown.
"""

from __future__ import annotations

import tempfile
from multiprocessing.connection import Connection
from pathlib import Path, PurePosixPath
from typing import Any

from worker.fc import ProtocolError, load_protocol
from worker.fc import parser as fc_parser


def serve(conn: Connection) -> None:
    """Answer ``(files, main)`` requests with :func:`read_interface`'s answer, until EOF.

    One process serves many protocols because the engine's parser and library, built on first use, take
    far longer than reading a protocol does (half a second against a few milliseconds)."""
    while True:
        try:
            files, main = conn.recv()
        except (EOFError, OSError):
            return
        answer = read_interface(files, main)
        conn.send(answer)
        if "memory" in answer:
            return  # a process that ran out of memory is not trusted with the next protocol


def read_interface(files: dict[str, bytes], main: str) -> dict[str, Any]:
    """Parse the protocol from a private copy of the version's files (imports are relative to it)."""
    with tempfile.TemporaryDirectory(prefix="weblab-describe-") as tmp:
        root = Path(tmp)
        try:
            for name, data in files.items():
                target = root.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            interface = load_protocol(root.joinpath(*PurePosixPath(main).parts), root=root).interface()
            return {"interface": interface.to_json()}
        except MemoryError as exc:
            return {"memory": f"{type(exc).__name__}: {exc}"}
        except RecursionError:
            return {"error": "RecursionError: the protocol nests too deeply"}
        except Exception as exc:  # noqa: BLE001 - reported without the private temporary path
            syntax = _syntax_error(exc, root)
            if syntax is not None:
                return {"syntax": syntax}
            message = str(exc).replace(str(root) + "/", "")
            return {"error": f"{type(exc).__name__}: {message}"}


def _syntax_error(exc: Exception, root: Path) -> dict[str, Any] | None:
    """Where and why, when ``exc`` is the engine failing to parse a protocol file of the version (the file it
    names does not parse on its own either); None for any other failure (a missing import, a bad input, ...)."""
    file = getattr(exc, "file", None)
    if not isinstance(exc, ProtocolError) or not file:
        return None
    path = Path(file)
    try:
        relative = path.resolve().relative_to(root.resolve())
        text = path.read_text(encoding="utf-8")
    except (ValueError, OSError, UnicodeDecodeError):
        return (
            None  # outside the version (the packaged library), or unreadable: not a syntax error of its own
        )
    try:
        fc_parser.parse_text(text, relative.as_posix())
    except ProtocolError as parse_error:
        message = parse_error.message
        expected = message.partition("; expected ")[2] or fc_parser.expected_at(
            text, parse_error.line, parse_error.column
        )
        if expected and "; expected " not in message:
            message = f"{message}; expected {expected}"
        return {
            "file": relative.as_posix(),
            "line": parse_error.line or 0,
            "column": parse_error.column or 0,
            "message": message,
            "expected": expected or "",
        }
    except Exception:  # noqa: BLE001 - it parses as far as the parser is concerned
        return None
    return None
