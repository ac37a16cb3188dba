"""The engine in a child process, under a hard wall-clock limit that really kills it.

An experiment runs in a :class:`worker.child.Child`: its own process, forked from
a forkserver that has the engine imported already, in a new session so that
:func:`run_engine` can kill the whole process group with SIGKILL: a simulation
stuck in compiled code, or a post-processing loop that never ends, cannot outlive
its time limit, a cancellation, or its worker. The parent never imports the
engine; it watches three files the child writes:

- ``progress.jsonl``: one ``{"done": k, "total": n}`` line per step;
- ``result.json``: the engine's final status, messages and missing terms;
- ``stdout.txt``: everything the child printed (stdout and stderr).

The engine is any module with ``load_protocol(path, inputs) -> Protocol`` whose
``run(model_path, output_dir, progress=cb, cancel=event)`` returns a result with
``status``, ``messages`` and ``missing_terms`` — by default ``worker.fc``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import json
import signal
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.child import Child, how_it_ended
from worker.parent_death import die_with_parent

DEFAULT_ENGINE = "worker.fc"
POLL_INTERVAL = 0.25


@dataclass
class Outcome:
    """How a child run ended. ``status`` is SUCCESS, PARTIAL, FAILED, INAPPLICABLE or CANCELLED."""

    status: str
    messages: list[str] = field(default_factory=list)
    missing_terms: list[str] = field(default_factory=list)
    engine_version: str = ""
    reason: str | None = None  # why the parent ended it (time limit, cancelled, crashed), if it did


def _status_name(status: Any) -> str:
    name = getattr(status, "name", None) or getattr(status, "value", None) or str(status)
    return str(name).upper()


# --- the child ---------------------------------------------------------------------------------


def _progress_writer(path: Path) -> Callable[..., None]:
    stream = path.open("a", buffering=1)

    def progress(*args: Any, **kwargs: Any) -> None:
        """Accepts ``progress(done, total)``, ``progress(fraction)`` or keywords ``done=``/``total=``."""
        done = kwargs.get("done", args[0] if args else 0)
        total = kwargs.get("total", args[1] if len(args) > 1 else None)
        if total is None:  # a fraction
            done, total = int(float(done) * 1000), 1000
        stream.write(json.dumps({"done": int(done), "total": int(total)}) + "\n")

    return progress


def _engine_version(module: Any) -> str:
    version = getattr(module, "__version__", None)
    return f"{module.__name__} {version}" if version else str(module.__name__)


@functools.cache
def platform_version() -> str:
    """The installed weblab distribution's version (looked up once per worker: it costs a directory scan)."""
    try:
        from importlib.metadata import version

        return f"weblab {version('weblab')}"
    except Exception:
        return "weblab"


def _engine_of(protocol: Any, default: Any) -> Any:
    """The package that really loaded ``protocol`` (an engine may hand protocols on to another one):
    the shortest prefix of its class's module that offers ``load_protocol``."""
    parts = type(protocol).__module__.split(".")
    for n in range(1, len(parts) + 1):
        with contextlib.suppress(ImportError):
            module = importlib.import_module(".".join(parts[:n]))
            if hasattr(module, "load_protocol"):
                return module
    return default


def child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.runner")
    parser.add_argument("--engine", default=DEFAULT_ENGINE)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--protocol", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--progress", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--inputs", default="{}", help="protocol inputs as a JSON object")
    args = parser.parse_args(argv)

    die_with_parent()  # for python -m worker.runner; under run_engine, worker.child ties it to its worker
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    result: dict[str, Any] = {
        "status": "FAILED",
        "messages": [],
        "missing_terms": [],
        "engine_version": args.engine,
    }
    try:
        engine = importlib.import_module(args.engine)
        result["engine_version"] = _engine_version(engine)
        protocol = engine.load_protocol(args.protocol, json.loads(args.inputs) or None)
        result["engine_version"] = _engine_version(_engine_of(protocol, engine))
        ran = protocol.run(args.model, args.output, progress=_progress_writer(args.progress), cancel=cancel)
        result.update(
            status=_status_name(ran.status),
            messages=[str(m) for m in getattr(ran, "messages", [])],
            missing_terms=[str(t) for t in getattr(ran, "missing_terms", [])],
        )
    except Exception as exc:  # whatever the engine raised is the run's failure, reported, never lost
        traceback.print_exc()
        result["messages"].append(f"{type(exc).__name__}: {exc}")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    args.result.write_text(json.dumps(result))
    return 0


# --- the parent --------------------------------------------------------------------------------


async def run_engine(
    model: Path,
    protocol: Path,
    output_dir: Path,
    work_dir: Path,
    *,
    time_limit: float,
    on_progress: Callable[[int, int], Awaitable[None]] | None = None,
    should_stop: Callable[[], Awaitable[bool]] | None = None,
    engine: str = DEFAULT_ENGINE,
    inputs: dict[str, Any] | None = None,
    poll: float = POLL_INTERVAL,
) -> Outcome:
    """Run one experiment in a child process; kill it at ``time_limit`` seconds or when ``should_stop()``.

    ``stdout.txt``, ``progress.jsonl`` and ``result.json`` are written into ``work_dir``.
    Cancelling the calling task (worker shutdown) kills the child too.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    progress_path, result_path = work_dir / "progress.jsonl", work_dir / "result.json"
    progress_path.touch()
    stdout_path = work_dir / "stdout.txt"
    stdout_path.touch()
    argv = [
        "--engine",
        engine,
        "--model",
        str(model),
        "--protocol",
        str(protocol),
        "--output",
        str(output_dir),
        "--progress",
        str(progress_path),
        "--result",
        str(result_path),
        "--inputs",
        json.dumps(inputs or {}),
    ]
    child = Child(child_main, argv, name="weblab-engine", stdout=stdout_path)
    loop = asyncio.get_running_loop()
    reason: str | None = None
    status: str | None = None
    read_at = 0
    last = (-1, -1)
    try:
        await asyncio.to_thread(child.start)
        deadline = loop.time() + time_limit
        while True:
            if await child.exited(poll):
                break
            read_at, latest = _read_progress(progress_path, read_at)
            if latest is not None and latest != last and on_progress is not None:
                last = latest
                await on_progress(*latest)
            if should_stop is not None and await should_stop():
                status, reason = "CANCELLED", "the run was cancelled"
            elif loop.time() > deadline:
                status, reason = (
                    "FAILED",
                    f"the experiment exceeded its time limit of {time_limit:g} s and was killed",
                )
            if status is not None:
                child.kill()
                await asyncio.to_thread(child.join)
                break
    finally:
        child.close()  # anything the engine left running in its group is killed with it
    _, latest = _read_progress(progress_path, read_at)
    if latest is not None and latest != last and on_progress is not None and status is None:
        await on_progress(*latest)
    if status is not None:
        return Outcome(status, [reason or ""], reason=reason)
    if not result_path.exists():
        reason = (
            f"the engine process {how_it_ended(child.exitcode)} without reporting a result (see stdout.txt)"
        )
        return Outcome("FAILED", [reason], reason=reason)
    data = json.loads(result_path.read_text())
    engine_version = f"{data.get('engine_version', engine)} ({platform_version()})"
    return Outcome(
        data.get("status", "FAILED"),
        list(data.get("messages", [])),
        list(data.get("missing_terms", [])),
        engine_version,
    )


def _read_progress(path: Path, offset: int) -> tuple[int, tuple[int, int] | None]:
    """New complete lines of the progress file from ``offset``: the new offset and the latest (done, total)."""
    with path.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    end = chunk.rfind(b"\n")
    if end < 0:
        return offset, None
    latest = None
    for line in chunk[: end + 1].splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(line)
            latest = (int(data["done"]), int(data["total"]))
    return offset + end + 1, latest


if __name__ == "__main__":
    sys.exit(child_main())
