"""Shared fixtures: real PostgreSQL (a fresh database per test run), real Redis (an own queue name), real store.

The servers come from ``WEBLAB_TEST_DATABASE_URL`` (default: the machine's
PostgreSQL, database ``test``) and ``WEBLAB_TEST_REDIS_URL`` (default: Redis on
127.0.0.1:6379). Everything is built once per session; tests that change
shared state use their own users and entities.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from resolvers import accounts
from resolvers.services import Services
from resolvers.settings import Settings
from tests.apps import BASE, build_app, client_of, close_sparql
from web.services import start_services

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WEBLAB_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
ADMIN_URL = os.environ.get("WEBLAB_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("WEBLAB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder is missing at {SHARED_DATA} (set WEBLAB_SHARED_DATA)")
    return SHARED_DATA


def _with_database(url: str, name: str) -> str:
    """The same server URL, pointing at another database."""
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return f"{base}?{query}" if query else base


@contextlib.contextmanager
def fresh_database(purpose: str = "test") -> Iterator[str]:
    """An empty database of its own on the test server, dropped afterwards.

    Every deployment a test starts needs its own: a server recovers the queued runs it finds in its
    database onto its own queue, so two servers on one database would take each other's runs.
    """
    name = f"weblab_{purpose}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(ADMIN_URL, name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("weblab-data"),
        base_uri=BASE,
        database_url=database_url,
        redis_url=REDIS_URL,
        queue_name=f"weblab-test:{os.getpid()}:{secrets.token_hex(3)}",
        import_demo=False,
        auto_run=False,  # tests queue runs themselves; tests/runs/test_automatic.py turns it on
        demo_dir=SHARED_DATA,
        secret_key="test-secret-key",
    )


@pytest_asyncio.fixture(scope="session")
async def services(settings: Settings) -> AsyncIterator[Services]:
    svc = await start_services(settings)
    try:
        yield svc
    finally:
        await svc.redis.delete(
            *[k async for k in svc.redis.scan_iter(match=settings.queue_name + "*")] or ["-"]
        )
        await svc.close()


@pytest_asyncio.fixture(scope="session")
async def app(settings: Settings, services: Services) -> AsyncIterator[Starlette]:
    """The platform app the session's tests share (its SPARQL workers are stopped at the end)."""
    application = build_app(settings, services)
    yield application
    await close_sparql(application)


@pytest_asyncio.fixture(scope="session")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as c:
        yield c


@pytest_asyncio.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own that keeps cookies, like a browser (the shared ``client`` must stay anonymous)."""
    async with client_of(app) as c:
        yield c


_names = itertools.count(1)
MakeUser = Callable[..., Awaitable[tuple[accounts.User, str]]]


def user_maker(db: Any) -> MakeUser:
    """``make(prefix, roles)`` creates a fresh user and an API token for it in the database behind ``db``."""

    async def make(
        prefix: str = "user", roles: frozenset[str] | set[str] = frozenset()
    ) -> tuple[accounts.User, str]:
        name = f"{prefix}{next(_names)}{secrets.token_hex(2)}"
        user = await accounts.create_user(db, name, f"{name}@example.org", "correct horse", frozenset(roles))
        token = await accounts.create_token(db, user, "test")
        assert token.secret is not None
        return user, token.secret

    return make


@pytest_asyncio.fixture(scope="session")
async def make_user(services: Services) -> MakeUser:
    """Creates a fresh user and an API token for it: ``user, token = await make_user("alice", roles={"admin"})``."""
    return user_maker(services.db)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now, for servers the tests start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
