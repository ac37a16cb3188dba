"""The services one platform process holds: settings, database pool, queue, triple store.

Every layer is handed this bundle (handlers reach it as
``request.app.state.services``); it is passed in, never imported as a
global, so tests build it against their own databases. Starting the
services, embedded or remote, is the web layer's job (``web/services.py``);
``stop`` is whatever that start needs undone besides the connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from arq import ArqRedis
from psycopg_pool import AsyncConnectionPool

from resolvers.settings import Settings
from sparql.store import TripleStore


def _nothing() -> None:
    return None


@dataclass
class Services:
    settings: Settings
    db: AsyncConnectionPool
    redis: ArqRedis
    store: TripleStore  # or a RemoteTripleStore, which offers the same API (not yet one declared type)
    redis_url: str = ""
    stop: Callable[[], None] = _nothing
    run_supervisor: asyncio.Task[None] | None = None  # resolvers.runs.start_supervisor's

    async def close(self) -> None:
        await self.redis.aclose()
        await self.db.close()
        await self.store.aclose()
        await asyncio.to_thread(self.stop)
