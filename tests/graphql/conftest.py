"""GraphQL tests: an app over the session's real services with diagnostics on, and a helper to query it.

``gql(query, variables, token=...)`` posts to ``/graphql`` and returns the JSON
body; ``data(...)`` also fails the test on any top-level error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from resolvers.entities import Entities
from resolvers.services import Services
from resolvers.settings import Settings
from resolvers.uploads import Upload
from tests.apps import build_app, client_of, close_sparql
from tests.conftest import bearer

Gql = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(scope="session")
def debug_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"debug": True})


@pytest_asyncio.fixture(scope="session")
async def gapp(debug_settings: Settings, services: Services) -> AsyncIterator[Starlette]:
    """The app the GraphQL tests share, over HTTP (``gclient``) and over WebSockets (the subscription tests)."""
    from ontology.graphs import load_ontologies

    load_ontologies(services.store, debug_settings.base_uri)  # idempotent; what `weblab serve` loads at start
    app = build_app(debug_settings, services)
    yield app
    await close_sparql(app)


@pytest_asyncio.fixture(scope="session")
async def gclient(gapp: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(gapp) as c:
        yield c


@pytest.fixture(scope="session")
def gql(gclient: httpx.AsyncClient) -> Gql:
    async def run(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        h = {**(bearer(token) if token else {}), **(headers or {})}
        response = await gclient.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=h
        )
        assert response.status_code == 200, response.text
        return response.json()

    return run


@pytest.fixture(scope="session")
def data(gql: Gql) -> Gql:
    async def run(query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        body = await gql(query, variables, **kw)
        assert "errors" not in body, body["errors"]
        return body["data"]

    return run


@pytest.fixture(scope="session")
def entities(services: Services) -> Entities:
    return Entities.from_services(services)


@pytest.fixture(scope="session")
def cellml(shared_data: Path) -> Callable[[str], Upload]:
    def read(name: str) -> Upload:
        path = shared_data / "cellml" / name
        return Upload(path.name, path.read_bytes())

    return read


@pytest.fixture(scope="session")
def protocol_file(shared_data: Path) -> Callable[[str], Upload]:
    def read(name: str) -> Upload:
        path = shared_data / "fc" / "protocols" / "real" / name
        return Upload(path.name, path.read_bytes())

    return read
