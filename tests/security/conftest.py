"""The security suite: every case replayed over HTTP against a real server (uvicorn, its own process).

``server`` is one running platform on a fresh database and data directory,
shared by the suite; ``server_user`` makes its users (``user, token = await
server_user("alice")``). Tests that must restart a server, or start one with
other settings, use ``tests.servers.serve`` on a directory of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from tests import servers
from tests.conftest import MakeUser, fresh_database


@pytest.fixture(scope="session")
def security_database() -> Iterator[str]:
    with fresh_database("security") as url:
        yield url


@pytest.fixture(scope="session")
def server(security_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running server with no content (ends with ``/``)."""
    with servers.serve(security_database, tmp_path_factory.mktemp("security-server")) as base:
        yield base


@pytest_asyncio.fixture(scope="session")
async def server_user(server: str, security_database: str) -> AsyncIterator[MakeUser]:
    async with servers.users_of(security_database) as make:
        yield make


@pytest_asyncio.fixture
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running server, keeping cookies like a browser."""
    async with httpx.AsyncClient(base_url=server.rstrip("/"), timeout=30) as c:
        yield c
