"""A real ``oxigraph serve`` process (the binary from ``pip install oxigraph``) for tests and the benchmark."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port


def oxigraph_binary() -> str:
    found = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))
    if not Path(found).exists():
        raise RuntimeError("the oxigraph server binary is missing: pip install oxigraph (a test dependency)")
    return found


@contextmanager
def oxigraph_server(location: Path, *, read_only: bool = False, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Runs ``oxigraph serve`` (or ``serve-read-only``) on ``location``; yields its base URL."""
    port = free_port()
    command = [
        oxigraph_binary(),
        "serve-read-only" if read_only else "serve",
        "--location",
        str(location),
        "--bind",
        f"127.0.0.1:{port}",
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    # ``with``: the stderr pipe is closed (and the process reaped) however the server ends
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url + "/query", params={"query": "ASK {}"}, timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        assert process.stderr is not None
                        raise RuntimeError(
                            f"oxigraph did not start: {process.stderr.read().decode()[-2000:]}"
                        ) from None
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
