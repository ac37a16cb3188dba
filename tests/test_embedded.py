"""The embedded default end to end: `weblab serve` with no URLs, stop, start again, data still there.

Also the start-up errors a user sees when a configured service is not there,
and `weblab user add`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

WEBLAB = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env.update(extra)
    return env


@contextlib.contextmanager
def _serving(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``weblab serve`` with its stderr in ``log``: a pipe that nobody reads could fill and stall the server,
    and would be left open."""
    with (
        log.open("a") as err,
        subprocess.Popen(
            [*WEBLAB, "serve", "--no-demo"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        ) as proc,
    ):
        yield proc


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"weblab serve exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            last = httpx.get(url + "/healthz", timeout=5)
            if last.status_code == 200:
                return last.json()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not healthy after {timeout}s: {last.text if last else 'no answer'}")


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def _postgres_running(data_dir: Path) -> bool:
    return (data_dir / "postgres" / "postmaster.pid").exists()


@pytest.mark.embedded
def test_embedded_default_serves_stops_and_keeps_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(WEBLAB_DATA_DIR=str(data_dir), WEBLAB_PORT=str(port), WEBLAB_BASE_URI=url + "/")

    log = tmp_path / "serve.log"
    with _serving(env, log) as first:
        try:
            health = _wait_healthy(url, first, log)
            assert health["down"] == []
            r = httpx.post(
                url + "/auth/register",
                json={"name": "keeper", "email": "k@example.org", "password": "long enough"},
            )
            assert r.status_code == 201
        finally:
            code = _stop(first)
    assert code == 0 or code == -signal.SIGTERM
    assert not _postgres_running(data_dir), "the embedded PostgreSQL must stop with the platform"

    with _serving(env, log) as second:
        try:
            _wait_healthy(url, second, log)
            login = httpx.post(url + "/auth/login", json={"name": "keeper", "password": "long enough"})
            assert login.status_code == 200, "users survive a restart"
        finally:
            _stop(second)
    assert not _postgres_running(data_dir)


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    bad = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    r = subprocess.run(
        [*WEBLAB, "db", "upgrade"],
        env=_env(WEBLAB_DATA_DIR=str(tmp_path), WEBLAB_DATABASE_URL=bad),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("weblab: error:")]
    assert len(errors) == 1 and bad in errors[0] and "refused" in errors[0]


def test_an_unreachable_redis_is_one_clear_line(tmp_path: Path, database_url: str) -> None:
    bad = f"redis://127.0.0.1:{free_port()}/0"
    r = subprocess.run(
        [*WEBLAB, "serve", "--no-demo"],
        env=_env(WEBLAB_DATA_DIR=str(tmp_path), WEBLAB_DATABASE_URL=database_url, WEBLAB_REDIS_URL=bad),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("weblab: error:")]
    assert len(errors) == 1 and bad in errors[0]


def test_user_add_reads_the_password_from_stdin(tmp_path: Path, database_url: str, settings) -> None:
    env = _env(
        WEBLAB_DATA_DIR=str(tmp_path), WEBLAB_DATABASE_URL=database_url, WEBLAB_REDIS_URL=settings.redis_url
    )
    r = subprocess.run(
        [*WEBLAB, "user", "add", "root-admin", "--email", "admin@example.org", "--role", "admin"],
        input="a good password\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "root-admin" in r.stdout and "admin" in r.stdout
    again = subprocess.run(
        [*WEBLAB, "user", "add", "root-admin", "--email", "other@example.org"],
        input="a good password\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "already exists" in again.stderr

    import asyncio

    from resolvers import accounts, db

    async def check() -> accounts.User:
        pool = await db.open_pool(database_url, max_size=1)
        try:
            return await accounts.authenticate(pool, "root-admin", "a good password")
        finally:
            await pool.close()

    assert asyncio.run(check()).is_admin


def test_a_data_directory_in_use_is_refused_in_one_clear_line(
    tmp_path: Path, database_url: str, settings, shared_data: Path
) -> None:
    """`weblab import` beside a running server on the same data directory: told so, nothing started."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pyoxigraph; s = pyoxigraph.Store(sys.argv[1]); "
            "print('open', flush=True); sys.stdin.read()",
            str(tmp_path / "store"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        env = _env(
            WEBLAB_DATA_DIR=str(tmp_path),
            WEBLAB_DATABASE_URL=database_url,
            WEBLAB_REDIS_URL=settings.redis_url,
        )
        r = subprocess.run(
            [*WEBLAB, "import", "--owner", "nobody", str(shared_data / "cellml" / "noble_model_1962.cellml")],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.communicate("", timeout=30)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("weblab: error:")]
    assert len(errors) == 1 and f"the data directory {tmp_path} is in use" in errors[0], r.stderr
