"""Experiments (a model version × a protocol version), their runs and the runs' outputs.

An experiment or run is visible when both its versions are (ARCHITECTURE.md,
"Visibility"); every path here checks that through the loaders.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers import batch, runs
from resolvers.errors import ValidationError
from resolvers.loaders import OutputRow
from resolvers.runs import Run as RunRecord
from schema.context import Info
from schema.types.node import Node, node_id
from schema.types.ontology import Compatibility, OntologyTerm, terms
from schema.types.pagination import (
    DEFAULT_PAGE_SIZE,
    Connection,
    Edge,
    PageInfo,
    check_page_size,
    decode_cursor,
    encode_cursor,
    paginate,
)

if TYPE_CHECKING:
    from schema.types.entities import Version


@strawberry.enum(description="Where a run is in its life: QUEUED → RUNNING → a final status.")
class RunStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    INAPPLICABLE = "INAPPLICABLE"
    CANCELLED = "CANCELLED"


@strawberry.type(description="One output of a run.")
class Output:
    row: strawberry.Private[OutputRow]
    run_record: strawberry.Private[RunRecord]

    @strawberry.field(description="The output's name in the protocol.")
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="Its units.")
    def units(self) -> str:
        return self.row.units

    @strawberry.field(description="What it is (the protocol's description).")
    def description(self) -> str:
        return self.row.description

    @strawberry.field(description="Its array shape (empty for a scalar).")
    def shape(self) -> list[int]:
        return list(self.row.shape)

    @strawberry.field(description="Its value when it is one number (a scalar or one-element array).")
    def scalar(self) -> float | None:
        return self.row.values[0] if self.row.values is not None and len(self.row.values) == 1 else None

    @strawberry.field(
        description="Its numbers in order, when it is small enough to be kept as data (else null: "
        "download the file)."
    )
    def values(self) -> list[float] | None:
        return list(self.row.values) if self.row.values is not None else None

    @strawberry.field(description="Where to download the whole output (inside the run's archive).")
    def file_url(self) -> str | None:
        if not self.row.file:
            return None
        return f"/runs/{self.run_record.id}/archive#{self.row.file}"


@strawberry.type(description="One execution of an experiment.")
class Run(Node):
    record: strawberry.Private[RunRecord]

    @classmethod
    def of(cls, info: Info, record: RunRecord) -> Run:
        uri = runs.run_uri(info.context.settings.base_uri, record.id)
        return cls(id=strawberry.ID(node_id(info.context.settings.base_uri, uri)), uri=uri, record=record)

    @strawberry.field(description="The run's status.")
    def status(self) -> RunStatus:
        return RunStatus(self.record.status)

    @strawberry.field(description="interactive (started by a user) or bulk (automatic).")
    def queue(self) -> str:
        return self.record.queue

    @strawberry.field(description="How many times a worker has started it.")
    def attempts(self) -> int:
        return self.record.attempts

    @strawberry.field(description="Steps done so far (of progressTotal).")
    def progress_done(self) -> int:
        return self.record.progress_done

    @strawberry.field(description="Steps in all (0 until the worker knows).")
    def progress_total(self) -> int:
        return self.record.progress_total

    @strawberry.field(description="When it was queued.")
    def queued_at(self) -> datetime:
        return self.record.queued_at

    @strawberry.field(description="When a worker started it.")
    def started_at(self) -> datetime | None:
        return self.record.started_at

    @strawberry.field(description="When it reached a final status.")
    def finished_at(self) -> datetime | None:
        return self.record.finished_at

    @strawberry.field(description="What went wrong (FAILED, PARTIAL, INAPPLICABLE, CANCELLED).")
    def error(self) -> str | None:
        return self.record.error

    @strawberry.field(description="INAPPLICABLE runs: the required terms the model lacks.")
    def missing_terms(self) -> list[OntologyTerm]:
        return terms(self.record.missing_terms)

    @strawberry.field(description="Where to download the result archive (COMBINE/OMEX), once there is one.")
    def archive_url(self) -> str | None:
        return f"/runs/{self.record.id}/archive" if self.record.archive_path else None

    @strawberry.field(description="The experiment this is a run of.")
    def experiment(self, info: Info) -> Experiment:
        return Experiment.of(info, self.record.model_version_uri, self.record.protocol_version_uri)

    @strawberry.field(description="The outputs the run produced (empty until it finishes).")
    async def outputs(self, info: Info) -> list[Output]:
        rows = await info.context.loaders.outputs.load(self.uri)
        return [Output(row=r, run_record=self.record) for r in rows]


@strawberry.type(description="A model version run under a protocol version; its runs, newest first.")
class Experiment(Node):
    model_uri: strawberry.Private[str]
    protocol_uri: strawberry.Private[str]

    @classmethod
    def of(cls, info: Info, model: str, protocol: str) -> Experiment:
        uri = runs.experiment_uri(info.context.settings.base_uri, model, protocol)
        return cls(
            id=strawberry.ID(node_id(info.context.settings.base_uri, uri)),
            uri=uri,
            model_uri=model,
            protocol_uri=protocol,
        )

    @strawberry.field(description="The model version.")
    async def model(self, info: Info) -> Annotated[Version, strawberry.lazy("schema.types.entities")] | None:
        from schema.types.entities import version_at

        return await version_at(info, self.model_uri)

    @strawberry.field(description="The protocol version.")
    async def protocol(
        self, info: Info
    ) -> Annotated[Version, strawberry.lazy("schema.types.entities")] | None:
        from schema.types.entities import version_at

        return await version_at(info, self.protocol_uri)

    @strawberry.field(description="Whether the model fits the protocol (null unless you may see both).")
    async def compatibility(self, info: Info) -> Compatibility | None:
        from schema.types.entities import version_at

        model, protocol = await asyncio.gather(
            version_at(info, self.model_uri), version_at(info, self.protocol_uri)
        )
        if model is None or protocol is None:
            return None
        found = await info.context.loaders.pair.load((self.model_uri, self.protocol_uri))
        return Compatibility.of(model, protocol, found.missing)

    @strawberry.field(description="The newest run (null before the first).")
    async def latest_run(self, info: Info) -> Run | None:
        history = await info.context.loaders.history.load(self.uri)
        return Run.of(info, history[0]) if history else None

    @strawberry.field(description="Every run, newest first.")
    async def runs(self, info: Info) -> list[Run]:
        return [Run.of(info, r) for r in await info.context.loaders.history.load(self.uri)]


@strawberry.type(description="One cell of the experiment matrix: a model version × a protocol version.")
class MatrixCell:
    model_uri: strawberry.Private[str]
    protocol_uri: strawberry.Private[str]
    missing: strawberry.Private[tuple[str, ...]]
    history: strawberry.Private[list[RunRecord]]

    @strawberry.field(description="True when the model annotates every term the protocol requires.")
    def fits(self) -> bool:
        return not self.missing

    @strawberry.field(description="The required terms the model lacks.")
    def missing_terms(self) -> list[OntologyTerm]:
        return terms(self.missing)

    @strawberry.field(description="Status of the newest run (null: never run).")
    def status(self) -> RunStatus | None:
        return RunStatus(self.history[0].status) if self.history else None

    @strawberry.field(description="The newest run (null: never run).")
    def latest_run(self, info: Info) -> Run | None:
        return Run.of(info, self.history[0]) if self.history else None

    @strawberry.field(description="The experiment of this cell.")
    def experiment(self, info: Info) -> Experiment:
        return Experiment.of(info, self.model_uri, self.protocol_uri)

    @strawberry.field(description="The model version (a row of the matrix).")
    def model_id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(node_id(info.context.settings.base_uri, self.model_uri))

    @strawberry.field(description="The protocol version (a column of the matrix).")
    def protocol_id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(node_id(info.context.settings.base_uri, self.protocol_uri))


@strawberry.type(
    description="Model versions × protocol versions, with compatibility and the newest run per cell."
)
class ExperimentMatrix:
    models: list[Annotated[Version, strawberry.lazy("schema.types.entities")]] = strawberry.field(
        description="The rows: model versions."
    )
    protocols: list[Annotated[Version, strawberry.lazy("schema.types.entities")]] = strawberry.field(
        description="The columns: protocol versions."
    )
    cells: list[MatrixCell] = strawberry.field(description="Every cell, row by row.")


@strawberry.type(description="One output across the compared runs.")
class AlignedOutput:
    name: str = strawberry.field(description="The output's name.")
    units: str = strawberry.field(description="Its units (from the first run that has it).")
    description: str = strawberry.field(description="What it is.")
    values: list[Output | None] = strawberry.field(
        description="The output of each run, in the order of `runs` (null where a run lacks it)."
    )


@strawberry.type(description="Runs side by side, their outputs aligned by name.")
class Comparison:
    runs: list[Run] = strawberry.field(description="The runs you may see, in the order asked.")
    outputs: list[AlignedOutput] = strawberry.field(
        description="Every output name any run has, sorted by name."
    )


async def compare(info: Info, run_ids: list[str]) -> Comparison:
    found = await asyncio.gather(*(info.context.loaders.visible_run(i) for i in run_ids))
    visible = [Run.of(info, r) for r in found if r is not None]
    outputs = await info.context.loaders.outputs.load_many([r.uri for r in visible])
    names = sorted({o.name for rows in outputs for o in rows})
    aligned = []
    for name in names:
        per_run = [next((o for o in rows if o.name == name), None) for rows in outputs]
        first = next(o for o in per_run if o is not None)
        aligned.append(
            AlignedOutput(
                name=name,
                units=first.units,
                description=first.description,
                values=[
                    Output(row=o, run_record=r.record) if o is not None else None
                    for o, r in zip(per_run, visible, strict=True)
                ],
            )
        )
    return Comparison(runs=visible, outputs=aligned)


async def matrix(
    info: Info, models: list[tuple[object, object]], protocols: list[tuple[object, object]]
) -> ExperimentMatrix:
    """``models``/``protocols``: (entity record, version record) pairs the caller may see."""
    from schema.types.entities import Version

    loaders = info.context.loaders
    rows = loaders.grid([v.uri for _, v in models], [v.uri for _, v in protocols])  # type: ignore[attr-defined]
    found = [c for row in rows for c in row]
    base = info.context.settings.base_uri
    histories = (
        await loaders.histories([runs.experiment_uri(base, c.model, c.protocol) for c in found])
        if found
        else []
    )
    return ExperimentMatrix(
        models=[Version.of(info, e, v) for e, v in models],  # type: ignore[arg-type]
        protocols=[Version.of(info, e, v) for e, v in protocols],  # type: ignore[arg-type]
        cells=[
            MatrixCell(model_uri=c.model, protocol_uri=c.protocol, missing=c.missing, history=h)
            for c, h in zip(found, histories, strict=True)
        ],
    )


async def visible_experiment(info: Info, model: str, protocol: str) -> Experiment | None:
    from schema.types.entities import version_at

    found = await asyncio.gather(version_at(info, model), version_at(info, protocol))
    return Experiment.of(info, model, protocol) if all(found) else None


async def resolve_uri(info: Info, path: list[str], uri: str) -> Node | None:
    """Runs and experiments by URI (``runs/{id}``, ``experiments/{id}``), when visible."""
    if len(path) == 2 and path[0] == "runs":
        run = await info.context.loaders.visible_run(path[1])
        return Run.of(info, run) if run is not None else None
    if len(path) == 2 and path[0] == "experiments":
        history = await info.context.loaders.history.load(uri)
        if not history:
            return None  # an experiment is known here once it has a run
        return await visible_experiment(info, history[0].model_version_uri, history[0].protocol_version_uri)
    return None


# --- lists of runs -------------------------------------------------------------------------------


def _run_key(run: RunRecord) -> tuple[float, str]:
    """Newest first as an ascending key: queued_at descending, then id."""
    return (-run.queued_at.timestamp(), run.id)


async def version_runs(
    info: Info,
    version_uri: str,
    *,
    status: RunStatus | None,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Run]:
    """The runs using a version, whose other version the caller may see too, newest first."""
    found = await info.context.loaders.visible_runs_of_version(version_uri)
    if status is not None:
        found = [r for r in found if r.status == status.value]
    return paginate(
        sorted(found, key=_run_key),
        _run_key,
        lambda r: Run.of(info, r),
        first=first,
        after=after,
        last=last,
        before=before,
        maximum=info.context.limits.page_size,
    )


async def version_experiments(info: Info, version_uri: str) -> list[Experiment]:
    """The experiments using a version that have a run the caller may see, the most recently run first."""
    seen: dict[str, Experiment] = {}
    for run in await info.context.loaders.visible_runs_of_version(version_uri):  # newest first
        if run.experiment_uri not in seen:
            seen[run.experiment_uri] = Experiment.of(info, run.model_version_uri, run.protocol_version_uri)
    return list(seen.values())


def _decode_run_cursor(after: str) -> tuple[datetime, str]:
    key = decode_cursor(after, "after")
    try:
        when, run_id = datetime.fromisoformat(key[0]), str(key[1])
    except (IndexError, TypeError, ValueError):
        raise ValidationError("after", "is not a cursor returned by this API") from None
    return when, run_id


async def recent_runs(
    info: Info, *, status: RunStatus | None, first: int | None, after: str | None
) -> Connection[Run]:
    """Every run the caller may see (both versions visible), newest first, a page at a time (forward only)."""
    from resolvers.metadata import Kind

    limits = info.context.limits
    check_page_size(first, None, limits.page_size)
    size = first if first is not None else min(DEFAULT_PAGE_SIZE, limits.page_size)
    loaders = info.context.loaders
    models, protocols = await asyncio.gather(
        loaders.visible_version_uris(Kind.MODEL), loaders.visible_version_uris(Kind.PROTOCOL)
    )
    page = await batch.recent_runs(
        info.context.services.db,
        sorted(models),
        sorted(protocols),
        status=status.value if status is not None else None,
        after=_decode_run_cursor(after) if after is not None else None,
        limit=size,
    )
    for r in page.runs:
        loaders.run.prime(r.id, r)
    edges = [
        Edge(cursor=encode_cursor([r.queued_at.isoformat(), r.id]), node=Run.of(info, r)) for r in page.runs
    ]
    return Connection(
        edges=edges,
        total_count=page.total,
        page_info=PageInfo(
            has_next_page=page.has_more,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def count_runs(info: Info) -> int:
    """How many runs the caller may see."""
    from resolvers.metadata import Kind

    loaders = info.context.loaders
    models, protocols = await asyncio.gather(
        loaders.visible_version_uris(Kind.MODEL), loaders.visible_version_uris(Kind.PROTOCOL)
    )
    return (
        await batch.recent_runs(info.context.services.db, sorted(models), sorted(protocols), limit=0)
    ).total
