"""Queueing experiments without anyone asking: for each new version (``WEBLAB_AUTO_RUN``) and for
``weblab run-all``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyoxigraph as ox

from resolvers.errors import NotFound
from resolvers.permissions import Caller
from resolvers.runs.queueing import create_run
from resolvers.runs.records import record_ended, split_version_uri
from resolvers.services import Services

log = logging.getLogger(__name__)

# --- automatic runs ----------------------------------------------------------------------------


@dataclass
class Queued:
    """What :func:`queue_for_version` or :func:`run_all` did."""

    queued: list[str] = field(default_factory=list)
    inapplicable: list[str] = field(default_factory=list)
    skipped: int = 0  # pairs that had a run already


async def _pairs_with_runs(db: Any) -> set[tuple[str, str]]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT DISTINCT model_version_uri, protocol_version_uri FROM runs")
        return {(m, p) for m, p in await cur.fetchall()}


async def _queue_pairs(services: Services, pairs: Iterable[tuple[str, str, tuple[str, ...]]]) -> Queued:
    done = await _pairs_with_runs(services.db)
    result = Queued()
    for model, protocol, lacking in pairs:
        if (model, protocol) in done:
            result.skipped += 1
            continue
        run = await create_run(services, model, protocol, queue="bulk", missing=lacking, record=False)
        (result.inapplicable if run.status == "INAPPLICABLE" else result.queued).append(run.id)
    await record_ended(services, result.inapplicable)
    return result


async def queue_for_version(services: Services, version_uri: str) -> Queued:
    """Queue (bulk) every experiment of a new model or protocol version with the latest version of each
    counterpart its author can see, that has no run yet. Called when a version is added."""
    from ontology import compatibility
    from resolvers import accounts, metadata
    from resolvers.permissions import visible_graphs

    base = services.settings.base_uri
    entity, _ = split_version_uri(version_uri)
    version = next(
        (v for v in metadata.list_versions(services.store.oxigraph, base, entity) if v.uri == version_uri),
        None,
    )
    if version is None:
        raise NotFound(f"no version {version_uri}")
    try:
        author: Caller | None = await accounts.get_user(services.db, version.author)
    except NotFound:
        author = None
    graphs = await visible_graphs(services, author)
    if version_uri not in {g.value for g in graphs}:
        graphs.append(ox.NamedNode(version_uri))
    if version.kind.value == "model":
        fits = compatibility.check_model(services.store, base, version_uri, graphs=graphs)
    elif version.kind.value == "protocol":
        models = compatibility.versions(services.store, base, "model", graphs=graphs)
        fits = [compatibility.check_pair(services.store, base, m, version_uri, graphs=graphs) for m in models]
    else:
        return Queued()
    return await _queue_pairs(services, ((c.model, c.protocol, c.missing) for c in fits))


async def run_all(services: Services) -> Queued:
    """Queue (bulk) every latest-model × latest-protocol experiment that has no run yet (``weblab run-all``)."""
    from ontology import compatibility

    matrix = compatibility.matrix(services.store, services.settings.base_uri)
    return await _queue_pairs(services, ((c.model, c.protocol, c.missing) for c in matrix))
