"""Fixtures for the SPARQL endpoint tests: an app with the SPARQL and linked-data routes, and graphs with
known visibility written through the platform's own vocabulary (so the real permission rules decide).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
import pytest_asyncio

from resolvers.metadata import DCTERMS, IS_VERSION_OF, OWNER, RDF_TYPE, TITLE, VISIBILITY, WEBLAB
from resolvers.services import Services
from resolvers.settings import Settings
from tests.apps import app_client
from tests.conftest import REDIS_URL, ROOT, free_port, fresh_database
from tests.sparql.oxigraph_server import oxigraph_server

BASE = "http://localhost:8000/"


@pytest.fixture
def remote_settings(tmp_path: Path) -> Iterator[Settings]:
    """A deployment on a remote store: a real Oxigraph server, a database of its own, the shared Redis.

    ``debug`` is on, so that GraphQL answers say whether the response cache gave them."""
    with oxigraph_server(tmp_path / "oxigraph") as url, fresh_database("remote") as database:
        yield Settings(
            data_dir=tmp_path / "data",
            base_uri=BASE,
            sparql_url=url,
            database_url=database,
            redis_url=REDIS_URL,
            queue_name=f"remote-{tmp_path.name}",
            import_demo=False,
            auto_run=False,
            secret_key="remote-test-secret",
            debug=True,
        )


@pytest_asyncio.fixture(scope="session")
async def sparql_client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, services) as c:
        yield c


def entity_graphs(
    services: Services,
    kind: str,
    entity_id: str,
    owner: str,
    visibility: str,
    extra: list[tuple[str, str, ox.NamedNode | ox.Literal]] = (),
) -> tuple[str, str]:
    """Write one entity and one version (``visibility``) the way the platform does; returns their URIs."""
    entity = f"{BASE}{kind}s/{entity_id}"
    version = f"{entity}/versions/{'a' * 40}"
    e, v = ox.NamedNode(entity), ox.NamedNode(version)
    cls = kind.capitalize()
    services.store.replace_graph(
        e,
        [
            ox.Triple(e, RDF_TYPE, ox.NamedNode(WEBLAB + cls)),
            ox.Triple(e, TITLE, ox.Literal(f"{entity_id} entity")),
            ox.Triple(e, OWNER, ox.NamedNode(f"{BASE}users/{owner}")),
        ],
    )
    triples = [
        ox.Triple(v, RDF_TYPE, ox.NamedNode(WEBLAB + cls + "Version")),
        ox.Triple(v, IS_VERSION_OF, e),
        ox.Triple(v, TITLE, ox.Literal(f"{entity_id} version")),
        ox.Triple(v, VISIBILITY, ox.NamedNode(WEBLAB + visibility)),
        ox.Triple(v, ox.NamedNode(DCTERMS + "description"), ox.Literal(f"secret-marker-{entity_id}")),
    ]
    triples += [ox.Triple(v, ox.NamedNode(p), o) for _, p, o in extra]
    services.store.replace_graph(v, triples)
    return entity, version


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, database_url: str, services: Services) -> Iterator[str]:
    """A running Weblab server (uvicorn, its own fresh data directory) on a free port; yields its base URI."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = dict(
        os.environ,
        WEBLAB_DATA_DIR=str(tmp_path_factory.mktemp("sparql-server")),
        WEBLAB_BASE_URI=base,
        WEBLAB_DATABASE_URL=database_url,
        WEBLAB_REDIS_URL=REDIS_URL,
        WEBLAB_IMPORT_DEMO="false",
        WEBLAB_QUEUE_NAME=f"weblab-sparql-test:{port}",
        WEBLAB_SECRET_KEY="sparql-tests",
        PYTHONPATH=str(ROOT),
    )
    log = tmp_path_factory.mktemp("sparql-server-log") / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.sparql.w3c_server:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "sparql", params={"query": "ASK {}"}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
