"""A run's record: its row in PostgreSQL (reading it), its names and URIs, who may see it, and the graph
of a run that ended without a result."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from resolvers import provenance
from resolvers.errors import NotFound, ValidationError
from resolvers.permissions import Caller, experiment_visible
from resolvers.services import Services

log = logging.getLogger(__name__)


QUEUES = ("interactive", "bulk")
STATUSES = ("QUEUED", "RUNNING", "SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED")
TERMINAL = frozenset({"SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED"})
RESULT_STATUSES = frozenset({"SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE"})
PRIORITY_MS = 10 * 365 * 24 * 3600 * 1000  # interactive jobs sort this much ahead of bulk ones
JOB_EXPIRES = timedelta(days=30)  # a job waits at most this long in Redis; recover() re-enqueues after
STALE_AFTER = 60.0  # seconds without a heartbeat after which a running run's worker counts as lost
MAX_ATTEMPTS = 3
SUPERVISE_INTERVAL = 15.0


@dataclass(frozen=True)
class Run:
    id: str
    experiment_uri: str
    model_version_uri: str
    protocol_version_uri: str
    status: str
    queue: str
    attempts: int
    progress_done: int
    progress_total: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    error: str | None
    archive_path: str | None
    created_by: int | None
    claim: str | None = None
    heartbeat_at: datetime | None = None
    missing_terms: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        values = dict(row)
        values["id"] = str(values["id"])
        values["missing_terms"] = tuple(values.get("missing_terms") or ())
        return cls(**values)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_json(self, base_uri: str) -> dict[str, Any]:
        """The run as users see it (the claim, a worker-side secret, is left out)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key in ("claim", "archive_path", "heartbeat_at"):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        out["missing_terms"] = list(self.missing_terms)
        out["uri"] = run_uri(base_uri, self.id)
        out["has_archive"] = self.archive_path is not None
        return out


# --- names -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)  # the experiment matrix names ~2,000 experiments per request
def experiment_id(model_version_uri: str, protocol_version_uri: str) -> str:
    """Stable id of an experiment: the same pair of versions always names the same experiment."""
    digest = hashlib.sha256(f"{model_version_uri}\n{protocol_version_uri}".encode()).hexdigest()
    return digest[:24]


def experiment_uri(base_uri: str, model_version_uri: str, protocol_version_uri: str) -> str:
    return f"{base_uri.rstrip('/')}/experiments/{experiment_id(model_version_uri, protocol_version_uri)}"


def run_uri(base_uri: str, run_id: str) -> str:
    return f"{base_uri.rstrip('/')}/runs/{run_id}"


def split_version_uri(uri: str) -> tuple[str, str]:
    """``(entity URI, commit SHA)`` of a version URI ``…/{kind}s/{id}/versions/{sha}``."""
    entity, sep, sha = uri.rpartition("/versions/")
    if not sep or not entity or not sha:
        raise ValidationError("version", f"{uri!r} is not a version URI (…/versions/<sha>)")
    return entity, sha


def check_run_id(run_id: str) -> str:
    try:
        return str(uuid.UUID(run_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"no run {run_id!r}") from None


# --- reading -----------------------------------------------------------------------------------

COLUMNS = (
    "id, experiment_uri, model_version_uri, protocol_version_uri, status, queue, attempts, progress_done, "
    "progress_total, queued_at, started_at, finished_at, worker, error, archive_path, created_by, claim, "
    "heartbeat_at, missing_terms"
)


async def fetch_runs(db: Any, sql: str, params: Iterable[Any] | Mapping[str, Any] = ()) -> list[Run]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params if isinstance(params, Mapping) else tuple(params))
        return [Run.from_row(row) for row in await cur.fetchall()]


async def get_run(db: Any, run_id: str) -> Run:
    rows = await fetch_runs(db, f"SELECT {COLUMNS} FROM runs WHERE id = %s", (check_run_id(run_id),))
    if not rows:
        raise NotFound(f"no run {run_id}")
    return rows[0]


async def history(db: Any, experiment: str) -> list[Run]:
    """Every run of an experiment, newest first: the first is the experiment's current run."""
    return await fetch_runs(
        db, f"SELECT {COLUMNS} FROM runs WHERE experiment_uri = %s ORDER BY queued_at DESC, id", (experiment,)
    )


async def current_run(db: Any, experiment: str) -> Run | None:
    runs = await history(db, experiment)
    return runs[0] if runs else None


# --- visibility --------------------------------------------------------------------------------


async def check_visible(services: Services, caller: Caller | None, *version_uris: str) -> None:
    """NotFound unless ``caller`` may see every one of these versions (an experiment's rule)."""
    from resolvers.entities import Entities

    entities = Entities.from_services(services)
    for uri in version_uris:
        entity, sha = split_version_uri(uri)
        await entities.get_version(caller, entity, sha)


async def visible_run(services: Services, caller: Caller | None, run_id: str) -> Run:
    """The run if ``caller`` may see it (``permissions.experiment_visible``); NotFound otherwise, so nothing
    leaks."""
    from resolvers.entities import Entities

    run = await get_run(services.db, run_id)
    entities = Entities.from_services(services)

    async def version_visible(uri: str) -> bool:
        entity, sha = split_version_uri(uri)
        try:
            await entities.get_version(caller, entity, sha)
        except (NotFound, ValidationError):
            return False
        return True

    if not await experiment_visible(run.model_version_uri, run.protocol_version_uri, version_visible):
        raise NotFound(f"no run {run_id}")
    return run


async def record_ended(services: Services, run_ids: list[str]) -> None:
    """The graph of each run that ended without a result (inapplicable, cancelled, given up): what is known of
    it is linked data too, as a finished run's is, and its experiment's current run is this one."""
    if not run_ids:
        return
    for run in await fetch_runs(
        services.db, f"SELECT {COLUMNS} FROM runs WHERE id = ANY(%s::uuid[])", (run_ids,)
    ):
        provenance.write_run_graph(services.store, services.settings.base_uri, run, [])
    await flush_store(services.store)


async def flush_store(store: Any) -> None:
    """Make the new graphs visible to readers in other processes (SPARQL workers) without blocking the event
    loop: a flush takes tens of milliseconds, and every worker callback waits behind a blocked loop."""
    if hasattr(store, "flush"):
        await asyncio.to_thread(store.flush)
