"""The app the W3C conformance harness runs as a real HTTP server (``uvicorn --factory``).

Settings come from the environment (``WEBLAB_*``), as for ``weblab serve``; the
SPARQL and linked-data routes are the app's own.
"""

from __future__ import annotations

from starlette.applications import Starlette

from resolvers.settings import Settings
from tests.apps import build_app


def app() -> Starlette:
    return build_app(Settings())
