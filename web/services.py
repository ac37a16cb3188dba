"""Starting the platform's services: :func:`start_services` starts the embedded ones the settings ask for
(no URL configured) and connects to the rest, and gives them as one :class:`resolvers.services.Services`,
whose ``close`` undoes exactly that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from psycopg_pool import AsyncConnectionPool

from ontology.graphs import load_ontologies
from resolvers import db, metadata
from resolvers.services import Services
from resolvers.settings import Settings
from sparql import registry
from sparql.generation import SharedGeneration
from sparql.remote import RemoteTripleStore
from sparql.store import TripleStore, open_triple_store
from web.embedded import EmbeddedError, EmbeddedServices, start_postgres, start_redis
from web.logs import embedded_log_path

log = logging.getLogger(__name__)


class StartupError(Exception):
    """A service the platform needs could not be reached or started; the message names it and why."""


async def open_redis(url: str) -> ArqRedis:
    try:
        redis = await create_pool(RedisSettings.from_dsn(url), retry=0)
        await redis.ping()
    except Exception as exc:  # redis-py raises several unrelated types for "not there"
        raise StartupError(f"cannot connect to Redis at {db.redact(url)}: {exc}") from exc
    return redis


async def start_services(settings: Settings, *, store: TripleStore | None = None) -> Services:
    """Start or connect to everything; on failure, stop what was started and raise :class:`StartupError`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = EmbeddedServices()
    pool: AsyncConnectionPool | None = None
    given = store
    try:
        # The store first: a data directory that another process holds is refused before anything is started.
        store = store or await asyncio.to_thread(open_store, settings)
        database_url = settings.database_url or await start_embedded(
            "PostgreSQL", start_postgres, settings, embedded
        )
        try:
            pool = await db.open_pool(database_url)
        except db.DatabaseUnavailable as exc:
            raise StartupError(str(exc)) from exc
        await db.migrate(pool)
        redis_url = settings.redis_url or await start_embedded("Redis", start_redis, settings, embedded)
        redis = await open_redis(redis_url)
        if isinstance(store, RemoteTripleStore):  # every web server shares the store: and its generation
            store.shared = SharedGeneration(redis_url, settings.queue_name)
    except BaseException:
        if pool is not None:
            await pool.close()
        if store is not None and given is None:
            store.close()
        await asyncio.to_thread(embedded.stop)
        raise
    return Services(
        settings=settings, db=pool, redis=redis, store=store, redis_url=redis_url, stop=embedded.stop
    )


async def start_embedded(
    name: str, start: Callable[[Path, EmbeddedServices], str], settings: Settings, embedded: EmbeddedServices
) -> str:
    """Any failure is a :class:`StartupError` that says where the details went: the embedded services log
    to a file, not to the terminal (``web.logs``)."""
    try:
        return await asyncio.to_thread(start, settings.data_dir, embedded)
    except EmbeddedError as exc:
        raise StartupError(str(exc)) from exc
    except Exception as exc:
        raise StartupError(
            f"cannot start the embedded {name}: {exc} (details in {embedded_log_path(settings.data_dir)})"
        ) from exc


def open_store(settings: Settings) -> TripleStore:
    """The embedded store, or the remote one ``WEBLAB_SPARQL_URL`` names, with the ontologies loaded."""
    where = settings.sparql_url or str(settings.store_dir)
    try:
        store = open_triple_store(settings.store_dir, settings.sparql_url)
    except Exception as exc:
        if settings.sparql_url is None and "LOCK" in str(exc):
            raise StartupError(
                f"the data directory {settings.data_dir} is in use: another Weblab process (a running `weblab "
                "serve`?) holds its triple store. Stop that process first, or add content through the running "
                f"server (its upload pages, GraphQL or HTTP API) ({exc})"
            ) from exc
        raise StartupError(f"cannot open the triple store at {where}: {exc}") from exc
    try:
        registry.check_base(store, settings.base_uri)
        metadata.move_revision_links(store.oxigraph)
        load_ontologies(store, settings.base_uri)
    except registry.BaseURIMismatch as exc:
        store.close()
        raise StartupError(f"{exc} (the store is at {where})") from exc
    except Exception as exc:
        store.close()
        raise StartupError(f"cannot open the triple store at {where}: {exc}") from exc
    return store
