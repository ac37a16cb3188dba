"""Batched reads of runs and compatibility: many at once, one round trip each.

The GraphQL loaders (``resolvers/loaders.py``) answer a page of N items with
a constant number of queries; they need set-at-a-time reads that
``resolvers.runs`` and ``ontology.compatibility`` (one item at a time) do not
offer. These functions hold no authorization: callers pass only URIs the
caller may see (``resolvers.permissions``), or filter what comes back.

Runs are ordered newest first everywhere: ``queued_at`` descending, then id
descending, which is also the keyset a page cursor holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import pyoxigraph as ox
from psycopg.rows import dict_row

from ontology import vocab
from ontology.compatibility import SATISFIED_PATTERN, Compatibility
from ontology.graphs import ontology_graphs
from resolvers.runs import STATUSES, Run

# every column of a Run, named from the dataclass so that a new field is read as soon as it is added
_COLUMNS = ", ".join(f.name for f in fields(Run))
_NEWEST_FIRST = "ORDER BY queued_at DESC, id DESC"


async def _fetch(db: Any, sql: str, params: Sequence[Any]) -> list[Run]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, tuple(params))
        return [Run.from_row(row) for row in await cur.fetchall()]


def _uuids(ids: Iterable[str]) -> list[str]:
    out = []
    for i in ids:
        try:
            out.append(str(uuid.UUID(i)))
        except (ValueError, TypeError, AttributeError):
            continue  # not a run id: there is no such run
    return out


async def runs_by_id(db: Any, ids: Sequence[str]) -> dict[str, Run]:
    """The runs with these ids (ids that are not UUIDs, or unknown, are absent)."""
    valid = _uuids(ids)
    if not valid:
        return {}
    return {
        r.id: r for r in await _fetch(db, f"SELECT {_COLUMNS} FROM runs WHERE id = ANY(%s::uuid[])", (valid,))
    }


async def runs_of_experiments(db: Any, experiment_uris: Sequence[str]) -> dict[str, list[Run]]:
    """Every run of each experiment, newest first (the first is the experiment's current run)."""
    found: dict[str, list[Run]] = {}
    if experiment_uris:
        for run in await _fetch(
            db,
            f"SELECT {_COLUMNS} FROM runs WHERE experiment_uri = ANY(%s) {_NEWEST_FIRST}",
            (list(experiment_uris),),
        ):
            found.setdefault(run.experiment_uri, []).append(run)
    return found


async def runs_of_versions(db: Any, version_uris: Sequence[str]) -> dict[str, list[Run]]:
    """Every run that uses each version (as its model or its protocol), newest first."""
    found: dict[str, list[Run]] = {}
    if version_uris:
        wanted = set(version_uris)
        for run in await _fetch(
            db,
            f"SELECT {_COLUMNS} FROM runs WHERE model_version_uri = ANY(%s) "
            f"OR protocol_version_uri = ANY(%s) {_NEWEST_FIRST}",
            (list(wanted), list(wanted)),
        ):
            for v in {run.model_version_uri, run.protocol_version_uri} & wanted:
                found.setdefault(v, []).append(run)
    return found


@dataclass(frozen=True)
class RunPage:
    """A page of runs and how many match in all."""

    runs: list[Run]
    total: int
    has_more: bool


async def recent_runs(
    db: Any,
    model_versions: Sequence[str],
    protocol_versions: Sequence[str],
    *,
    status: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 20,
) -> RunPage:
    """Runs whose model version and protocol version are both among those given, newest first.

    ``after`` is the (queued_at, id) of the last run of the previous page. One
    database round trip (two statements on one connection), whatever the sizes.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if not model_versions or not protocol_versions:
        return RunPage([], 0, False)
    where = "model_version_uri = ANY(%s) AND protocol_version_uri = ANY(%s)"
    params: list[Any] = [list(model_versions), list(protocol_versions)]
    if status is not None:
        where += " AND status = %s"
        params.append(status)
    page_where, page_params = where, list(params)
    if after is not None:
        page_where += " AND (queued_at, id) < (%s, %s::uuid)"
        page_params += [after[0], after[1]]
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT count(*) AS n FROM runs WHERE {where}", tuple(params))
        total = (await cur.fetchone())["n"]
        await cur.execute(
            f"SELECT {_COLUMNS} FROM runs WHERE {page_where} {_NEWEST_FIRST} LIMIT %s",
            (*page_params, limit + 1),
        )
        rows = [Run.from_row(r) for r in await cur.fetchall()]
    return RunPage(rows[:limit], total, len(rows) > limit)


def _missing(store: Any, base_uri: str, restrict: str) -> dict[tuple[str, str], set[str]]:
    query = (
        vocab.PREFIXES
        + f"""
SELECT ?m ?p ?t WHERE {{
  {restrict}
  GRAPH ?p {{ ?p weblab:requiresTerm ?t }}
  {SATISFIED_PATTERN}
}}"""
    )
    missing: dict[tuple[str, str], set[str]] = {}
    for s in store.query(query, default_graph=ontology_graphs(base_uri)):
        missing.setdefault((s["m"].value, s["p"].value), set()).add(s["t"].value)
    return missing


def compatibility_of_pairs(
    store: Any, base_uri: str, pairs: Sequence[tuple[str, str]]
) -> list[Compatibility]:
    """Compatibility of each (model version, protocol version) pair: one SPARQL query for all of them."""
    if not pairs:
        return []
    rows = " ".join(f"({ox.NamedNode(m)} {ox.NamedNode(p)})" for m, p in pairs)
    missing = _missing(store, base_uri, f"VALUES (?m ?p) {{ {rows} }}")
    return [Compatibility(m, p, tuple(sorted(missing.get((m, p), ())))) for m, p in pairs]


def compatibility_grid(
    store: Any, base_uri: str, models: Sequence[str], protocols: Sequence[str]
) -> list[list[Compatibility]]:
    """Every model version against every protocol version (rows: models, in order): one SPARQL query."""
    if not models or not protocols:
        return [[] for _ in models]
    restrict = (
        f"VALUES ?m {{ {' '.join(str(ox.NamedNode(m)) for m in models)} }} "
        f"VALUES ?p {{ {' '.join(str(ox.NamedNode(p)) for p in protocols)} }}"
    )
    missing = _missing(store, base_uri, restrict)
    return [[Compatibility(m, p, tuple(sorted(missing.get((m, p), ())))) for p in protocols] for m in models]
