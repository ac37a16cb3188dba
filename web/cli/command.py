"""What every ``weblab`` command shares: how it reports an error, and how it runs with the platform's services.

The operator commands (``weblab user add``, ``import``, ``run-all``) run with :func:`operate`: when a
server is running on the data directory (its ``operator.json`` is there and it answers, see
``web/operator.py``) it does the work, since it holds the triple store; otherwise the command starts
the services itself. Either way the same operation runs and the command prints the same result.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from resolvers.errors import WeblabError
from resolvers.settings import Settings


def fail(message: str, code: int = 1) -> int:
    """Print ``weblab: error: …`` (the form argparse uses) and give the exit status."""
    print(f"weblab: error: {message}", file=sys.stderr)
    return code


def operate(
    settings: Settings, operation: str, request: dict[str, Any], show: Callable[[dict[str, Any]], int]
) -> int:
    """Run the operator ``operation`` (``web.operator.OPERATIONS``) on ``request`` and ``show`` its result.

    ``show`` prints the result and gives the exit status; errors are ``weblab: error: …`` (status 1)."""
    from web.services import StartupError

    try:
        result = asyncio.run(_perform(settings, operation, request))
    except StartupError as exc:
        return fail(str(exc))
    except WeblabError as exc:
        return fail(exc.message)
    return show(result)


async def _perform(settings: Settings, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """On the running server when there is one (it holds the store), else with services of our own."""
    from web import operator
    from web.services import start_services

    server = await operator.find_server(settings.data_dir)
    if server is not None:
        return await server.call(operation, request)
    services = await start_services(settings)
    try:
        return await operator.OPERATIONS[operation](services, request, True)
    finally:
        await services.close()
