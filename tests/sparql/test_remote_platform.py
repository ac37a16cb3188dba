"""The platform on a remote store (``WEBLAB_SPARQL_URL``, a real Oxigraph server): entities, visibility,
GraphQL and SPARQL work as on the embedded store, the triples live on that server, and a second start
reuses them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pyoxigraph as ox

from resolvers import accounts
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.settings import Settings
from resolvers.uploads import Upload
from sparql.remote import RemoteTripleStore
from tests.apps import app_client
from tests.conftest import bearer
from web.services import start_services

MODELS = "query { models(first: 50) { nodes { name latestVersion { visibility } } } }"


async def _names(client: httpx.AsyncClient, token: str | None = None) -> set[str]:
    answer = await client.post("/graphql", json={"query": MODELS}, headers=bearer(token) if token else {})
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    return {m["name"] for m in answer.json()["data"]["models"]["nodes"]}


async def test_entities_graphql_and_sparql_on_a_remote_store(
    remote_settings: Settings, shared_data: Path
) -> None:
    services = await start_services(remote_settings)
    try:
        assert isinstance(services.store, RemoteTripleStore)
        owner = await accounts.create_user(
            services.db, "remote-owner", "remote@example.org", "correct horse", frozenset()
        )
        token = (await accounts.create_token(services.db, owner, "test")).secret
        assert token is not None
        cellml = shared_data / "cellml" / "noble_model_1962.cellml"
        entities = Entities.from_services(services)
        entity, version = await entities.publish(
            owner,
            Kind.MODEL,
            "remote noble",
            [Upload(cellml.name, cellml.read_bytes())],
            visibility="private",
        )
        async with app_client(remote_settings, services) as client:
            assert "remote noble" not in await _names(client)
            assert "remote noble" in await _names(client, token)

            await entities.set_visibility(owner, entity.uri, version.sha, "public")
            assert "remote noble" in await _names(client)
            ask = f"ASK {{ GRAPH <{version.uri}> {{ ?v ?p ?o }} }}"
            answer = await client.get(
                "/sparql", params={"query": ask}, headers={"Accept": "application/sparql-results+json"}
            )
            assert answer.status_code == 200 and answer.json()["boolean"] is True

        # the version's graph is on the remote server itself, with its visibility swapped (not both, not neither)
        remote = RemoteTripleStore(str(remote_settings.sparql_url))
        visibility = "https://w3id.org/weblab/ns#visibility"
        found = [
            s["o"]
            for s in remote.query(
                f"SELECT ?o WHERE {{ GRAPH <{version.uri}> {{ <{version.uri}> <{visibility}> ?o }} }}"
            )
        ]
        assert found == [ox.NamedNode("https://w3id.org/weblab/ns#public")]

        await entities.delete_version(owner, entity.uri, version.sha)
        assert not remote.has_graph(ox.NamedNode(version.uri))
        remote.close()
    finally:
        await services.close()

    again = await start_services(remote_settings)  # the ontologies are found on the server, not loaded again
    await again.close()
