"""Real servers for tests: ``weblab``'s app under uvicorn as its own process, as in production.

The app is ``tests/browser/server_app.py`` (``create_app`` with the ontologies
loaded and an in-process experiment worker). Each server gets its own data
directory and the database the caller hands it; the test Redis is shared, with a
queue name of its own. ``serve`` yields the base URL once the server answers, and
stops it (SIGTERM, then SIGKILL) on the way out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx

from tests.conftest import REDIS_URL, ROOT, SHARED_DATA, MakeUser, free_port, user_maker


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "healthz", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_env(database_url: str, data_dir: Path, base_uri: str, **overrides: str) -> dict[str, str]:
    """The environment of a test server: its own data, database and queue; ``overrides`` are ``WEBLAB_*`` names."""
    return {
        **os.environ,
        "WEBLAB_DATA_DIR": str(data_dir),
        "WEBLAB_BASE_URI": base_uri,
        "WEBLAB_DATABASE_URL": database_url,
        "WEBLAB_REDIS_URL": REDIS_URL,
        "WEBLAB_QUEUE_NAME": f"weblab-server:{os.getpid()}:{secrets.token_hex(3)}",
        "WEBLAB_SECRET_KEY": "server-test-secret",
        "WEBLAB_AUTO_RUN": "false",
        "WEBLAB_IMPORT_DEMO": "false",
        "WEBLAB_DEMO_DIR": str(SHARED_DATA),
        "WEBLAB_LOG_LEVEL": "WARNING",
        **{f"WEBLAB_{k.upper()}": v for k, v in overrides.items()},
    }


def start(
    database_url: str,
    data_dir: Path,
    *,
    port: int | None = None,
    base_uri: str | None = None,
    log_name: str = "server.log",
    **overrides: str,
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start a server without waiting for it: (process, its URL, its log file)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/"
    env = server_env(database_url, data_dir, base_uri or url, **overrides)
    log = data_dir / log_name
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "tests.browser.server_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, url, log


@contextlib.asynccontextmanager
async def users_of(database_url: str) -> AsyncIterator[MakeUser]:
    """Makes users (with API tokens) in a server's database: ``async with users_of(url) as make: ...``."""
    from resolvers import db

    pool = await db.open_pool(database_url)
    try:
        yield user_maker(pool)
    finally:
        await pool.close()


@contextlib.contextmanager
def serve(database_url: str, data_dir: Path, *, timeout: float = 60.0, **options: str) -> Iterator[str]:
    """A running server on ``data_dir``; yields its URL (``options``: ``base_uri``, ``port``, ``WEBLAB_*`` names)."""
    process, url, log = start(database_url, data_dir, **options)  # type: ignore[arg-type]
    try:
        wait_until_up(url, process, log, timeout)
        yield url
    finally:
        stop(process)
