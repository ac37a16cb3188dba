"""What every ``weblab`` command shares: how it reports an error, and how it runs with the platform's services."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Protocol

from resolvers.errors import WeblabError
from resolvers.services import Services
from resolvers.settings import Settings


class Command(Protocol):
    def __call__(self, args: argparse.Namespace, settings: Settings) -> int: ...


def fail(message: str, code: int = 1) -> int:
    """Print ``weblab: error: …`` (the form argparse uses) and give the exit status."""
    print(f"weblab: error: {message}", file=sys.stderr)
    return code


async def with_services(settings: Settings, action: Callable[[Services], Awaitable[int | None]]) -> int:
    """Run ``action(services)`` with the platform's services (embedded ones started, and stopped after)."""
    from web.services import StartupError, start_services

    try:
        services = await start_services(settings)
    except StartupError as exc:
        return fail(str(exc))
    try:
        result = await action(services)
    except WeblabError as exc:
        return fail(exc.message)
    finally:
        await services.close()
    return int(result or 0)
