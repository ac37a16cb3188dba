"""The ASGI app the browser tests serve with uvicorn: ``web.app.create_app`` as ``weblab serve`` builds it.

The routes are the app's own (``web.app.all_routes``): a route it does not mount
is missing in the browser too. The ontology graphs are loaded at start-up (the
compatibility of models and protocols is computed over them). An experiment worker runs in the server process (as
with the embedded default), so runs started in the browser finish.

Run as ``uvicorn --factory tests.browser.server_app:app``; settings come from
``WEBLAB_*`` environment variables.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from resolvers.settings import Settings
from tests.apps import build_app


def _import_demo_hook(settings: Settings) -> Any:
    """Imports the demo corpus before the server answers (``WEBLAB_IMPORT_DEMO=true``), as ``weblab serve`` does."""

    async def hook(services: Any) -> None:
        from resolvers.importer import import_demo

        await import_demo(services, settings.demo_dir)

    return hook


async def _load_ontologies(services: Any) -> None:
    """The ontology graphs compatibility is computed over (idempotent), as the platform loads them at start."""
    from ontology.graphs import load_ontologies

    load_ontologies(services.store, services.settings.base_uri)


def app() -> Starlette:
    settings = Settings()
    application = build_app(settings, in_process_worker=True)
    application.state.startup_hooks.append(_load_ontologies)
    if settings.import_demo:
        application.state.startup_hooks.append(_import_demo_hook(settings))
    return application
