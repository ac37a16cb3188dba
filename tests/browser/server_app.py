"""The ASGI app the browser tests serve with uvicorn: ``web.app.create_app`` with every route module.

``create_app`` mounts the route modules listed in ``web.app.all_routes``; route
modules that exist but are not listed there yet (while the platform is being
assembled) are mounted here too, after the listed ones, so that the browser
sees the whole platform. The ontology graphs are loaded at start-up (the
compatibility of models and protocols is computed over them). An experiment worker runs in the server process (as
with the embedded default), so runs started in the browser finish.

Run as ``uvicorn --factory tests.browser.server_app:app``; settings come from
``WEBLAB_*`` environment variables.
"""

from __future__ import annotations

import importlib
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from resolvers.settings import Settings
from web.app import all_routes, create_app

ROUTE_MODULES = ("entities", "graphql", "runner", "linked_data", "sparql")


def _key(route: BaseRoute) -> tuple[str, tuple[str, ...]]:
    return getattr(route, "path", ""), tuple(sorted(getattr(route, "methods", None) or ()))


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
    application = create_app(settings, in_process_worker=True)
    application.state.startup_hooks.append(_load_ontologies)
    if settings.import_demo:
        application.state.startup_hooks.append(_import_demo_hook(settings))
    mounted = {_key(r) for r in all_routes()}
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(f"web.routes.{name}")
        except ImportError:
            continue
        for route in module.routes():
            if _key(route) not in mounted:
                application.router.routes.append(route)
                mounted.add(_key(route))
    return application
