"""Fixtures for the SPARQL endpoint tests: an app with the SPARQL and linked-data routes, and graphs with
known visibility written through the platform's own vocabulary (so the real permission rules decide).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pyoxigraph as ox
import pytest_asyncio

from resolvers.metadata import DCTERMS, IS_VERSION_OF, OWNER, RDF_TYPE, TITLE, VISIBILITY, WEBLAB
from web.app import create_app
from web.routes import linked_data, sparql
from web.services import Services
from web.settings import Settings

BASE = "http://localhost:8000/"


def with_routes(app):  # noqa: ANN001, ANN201 - Starlette
    """Mount the SPARQL and linked-data routes unless the app already has them."""
    paths = {getattr(r, "path", None) for r in app.router.routes}
    if "/sparql" not in paths:
        app.router.routes[0:0] = [*sparql.routes(), *linked_data.routes()]
    return app


@pytest_asyncio.fixture(scope="session")
async def sparql_client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = with_routes(create_app(settings, services, in_process_worker=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE.rstrip("/")) as c:
        yield c
    service = getattr(app.state, "sparql", None)
    if service is not None:
        await service.close()


def entity_graphs(services: Services, kind: str, entity_id: str, owner: str, visibility: str,
                  extra: list[tuple[str, str, ox.NamedNode | ox.Literal]] = ()) -> tuple[str, str]:
    """Write one entity and one version (``visibility``) the way the platform does; returns their URIs."""
    entity = f"{BASE}{kind}s/{entity_id}"
    version = f"{entity}/versions/{'a' * 40}"
    e, v = ox.NamedNode(entity), ox.NamedNode(version)
    cls = kind.capitalize()
    services.store.replace_graph(e, [
        ox.Triple(e, RDF_TYPE, ox.NamedNode(WEBLAB + cls)),
        ox.Triple(e, TITLE, ox.Literal(f"{entity_id} entity")),
        ox.Triple(e, OWNER, ox.NamedNode(f"{BASE}users/{owner}")),
    ])
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
