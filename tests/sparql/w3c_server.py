"""The app the W3C conformance harness runs as a real HTTP server (``uvicorn --factory``).

Settings come from the environment (``WEBLAB_*``), as for ``weblab serve``; the
SPARQL and linked-data routes are mounted if the app does not have them yet.
"""

from __future__ import annotations

from starlette.applications import Starlette

from resolvers.settings import Settings
from tests.sparql.conftest import with_routes
from web.app import create_app


def app() -> Starlette:
    return with_routes(create_app(Settings(), in_process_worker=False))
