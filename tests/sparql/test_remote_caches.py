"""Two web servers on one remote store (a real Oxigraph server), one PostgreSQL and one Redis: the caches stay
on, and a write through either server is seen by the other's next request; a write made straight to the
SPARQL server is seen once an operator runs ``weblab cache invalidate``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from resolvers import accounts
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from resolvers.settings import Settings
from resolvers.uploads import Upload
from sparql.remote import RemoteTripleStore
from tests.apps import app_client
from tests.conftest import REDIS_URL, ROOT
from web.services import start_services

MODELS = "query { models(first: 50) { nodes { name } } }"
TITLES = "SELECT ?t WHERE { GRAPH ?g { ?e <http://purl.org/dc/terms/title> ?t } }"


@dataclass
class Server:
    services: Services
    client: httpx.AsyncClient

    async def models(self) -> tuple[set[str], bool]:
        """The anonymous models page: its names, and whether the response cache answered it."""
        answer = await self.client.post("/graphql", json={"query": MODELS})
        body = answer.json()
        assert answer.status_code == 200 and "errors" not in body, answer.text
        names = {m["name"] for m in body["data"]["models"]["nodes"]}
        return names, (body.get("extensions") or {}).get("responseCache") == "hit"

    async def titles(self) -> set[str]:
        answer = await self.client.get(
            "/sparql", params={"query": TITLES}, headers={"Accept": "application/sparql-results+json"}
        )
        assert answer.status_code == 200, answer.text
        return {b["t"]["value"] for b in answer.json()["results"]["bindings"]}


@pytest_asyncio.fixture
async def servers(remote_settings: Settings) -> AsyncIterator[tuple[Server, Server]]:
    first = await start_services(remote_settings)
    second = await start_services(remote_settings)
    try:
        async with app_client(remote_settings, first) as a, app_client(remote_settings, second) as b:
            yield Server(first, a), Server(second, b)
    finally:
        await first.close()
        await second.close()


async def _publish(services: Services, shared_data: Path) -> Any:
    owner = await accounts.create_user(
        services.db, "coherent-owner", "coherent@example.org", "correct horse", frozenset()
    )
    cellml = shared_data / "cellml" / "noble_model_1962.cellml"
    entity, version = await Entities.from_services(services).publish(
        owner, Kind.MODEL, "coherent noble", [Upload(cellml.name, cellml.read_bytes())], visibility="public"
    )
    return owner, entity, version


async def test_caches_stay_on_and_agree_across_servers(
    servers: tuple[Server, Server], shared_data: Path
) -> None:
    a, b = servers
    assert isinstance(a.services.store, RemoteTripleStore) and a.services.store.shared is not None
    owner, entity, version = await _publish(a.services, shared_data)

    names, _ = await b.models()
    again, hit = await b.models()
    assert "coherent noble" in names and again == names and hit  # the second server caches, and is right
    assert "coherent noble" in await b.titles()

    await Entities.from_services(a.services).set_visibility(owner, entity.uri, version.sha, "private")
    names, hit = await b.models()  # the next request on the other server
    assert "coherent noble" not in names and not hit
    assert "coherent noble" not in await b.titles()


async def test_a_write_behind_the_platforms_back_needs_an_invalidation(
    servers: tuple[Server, Server], remote_settings: Settings, shared_data: Path
) -> None:
    a, b = servers
    _, entity, _ = await _publish(a.services, shared_data)
    names, _ = await b.models()
    assert "coherent noble" in names and (await b.models())[1]

    outside = RemoteTripleStore(str(remote_settings.sparql_url))  # a client that is not the platform
    outside.update(
        f"DELETE {{ GRAPH ?g {{ <{entity.uri}> <http://purl.org/dc/terms/title> ?t }} }}"
        f' INSERT {{ GRAPH ?g {{ <{entity.uri}> <http://purl.org/dc/terms/title> "renamed outside" }} }}'
        f" WHERE {{ GRAPH ?g {{ <{entity.uri}> <http://purl.org/dc/terms/title> ?t }} }}"
    )
    outside.close()
    assert (await b.models())[0] == names  # as documented: the platform cannot know

    env = {
        **os.environ,
        "WEBLAB_SPARQL_URL": str(remote_settings.sparql_url),
        "WEBLAB_REDIS_URL": REDIS_URL,
        "WEBLAB_QUEUE_NAME": remote_settings.queue_name,
        "WEBLAB_DATA_DIR": str(remote_settings.data_dir),
    }
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "cache", "invalidate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "every web server reads the store afresh" in done.stdout, done.stderr
    names, hit = await b.models()
    assert "renamed outside" in names and "coherent noble" not in names and not hit
