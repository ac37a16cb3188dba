"""Experiments: run one, run every compatible one for a version, cancel, run again (resolvers/runs.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from resolvers import runs
from resolvers.errors import Forbidden, ValidationError
from resolvers.permissions import can_edit
from schema.context import Info
from schema.mutations.entities import version_of
from schema.mutations.results import attempt
from schema.types.errors import Conflict, Unauthenticated
from schema.types.errors import Forbidden as ForbiddenType
from schema.types.errors import NotFound as NotFoundType
from schema.types.errors import ValidationError as ValidationErrorType
from schema.types.node import node_uri
from schema.types.runs import Run

_ERRORS = ValidationErrorType | Unauthenticated | ForbiddenType | NotFoundType | Conflict
RunResult = Annotated[Run | _ERRORS, strawberry.union("RunResult", description="The run, or a typed error.")]


@strawberry.type(description="What running every compatible experiment of a version did.")
class RunsQueued:
    queued: list[Run] = strawberry.field(description="Runs queued now.")
    inapplicable: list[Run] = strawberry.field(
        description="Experiments recorded INAPPLICABLE (the model lacks terms)."
    )
    skipped: int = strawberry.field(description="Experiments that had a run already.")


RunAllResult = Annotated[
    RunsQueued | _ERRORS, strawberry.union("RunAllResult", description="What was queued, or a typed error.")
]


def _run_id(info: Info, id: str) -> str:
    uri = node_uri(info.context.settings.base_uri, id)
    base = info.context.settings.base_uri.rstrip("/") + "/runs/"
    if not uri.startswith(base):
        raise ValidationError("run", f"{id!r} is not a run id (runs/<id>)")
    return uri.removeprefix(base)


def _version_uri(info: Info, id: str, argument: str) -> str:
    entity, sha = version_of(info, id, argument)
    return f"{entity}/versions/{sha}"


async def _visible(info: Info, run: runs.Run) -> Run:
    info.context.refresh()
    return Run.of(info, run)


@strawberry.type
class RunMutations:
    @strawberry.mutation(
        description="Run a model version under a protocol version (both must be visible to you). "
        "An incompatible pair is recorded INAPPLICABLE, with the missing terms; an "
        "experiment already queued or running answers that run."
    )
    async def run_experiment(self, info: Info, model: strawberry.ID, protocol: strawberry.ID) -> RunResult:
        async def go() -> Run:
            user = info.context.require_user()
            model_uri = _version_uri(info, model, "model")
            protocol_uri = _version_uri(info, protocol, "protocol")
            for uri, argument, kind in (
                (model_uri, "model", "models"),
                (protocol_uri, "protocol", "protocols"),
            ):
                if f"/{kind}/" not in uri:
                    raise ValidationError(argument, f"{uri} is not a {argument} version")
            run = await runs.create_run(info.context.services, model_uri, protocol_uri, caller=user)
            return await _visible(info, run)

        return await attempt(go())

    @strawberry.mutation(
        description="Queue every experiment of this version with the latest version of each "
        "counterpart, that has no run yet (editors of the version's entity)."
    )
    async def run_all_compatible(self, info: Info, version: strawberry.ID) -> RunAllResult:
        async def go() -> RunsQueued:
            user = info.context.require_user()
            entity_uri, sha = version_of(info, version)
            entity, _ = await info.context.entities.get_version(user, entity_uri, sha)
            if not can_edit(user, await info.context.entities.access(entity)):
                raise Forbidden(
                    f"only the owner and collaborators of {entity.name!r} may run all its experiments"
                )
            done = await runs.queue_for_version(info.context.services, f"{entity_uri}/versions/{sha}")
            # runs were queued with what the version's author may see; answer only what the caller may see
            info.context.refresh()
            loaders = info.context.loaders
            queued = await asyncio.gather(*(loaders.visible_run(i) for i in done.queued))
            inapplicable = await asyncio.gather(*(loaders.visible_run(i) for i in done.inapplicable))
            return RunsQueued(
                queued=[Run.of(info, r) for r in queued if r is not None],
                inapplicable=[Run.of(info, r) for r in inapplicable if r is not None],
                skipped=done.skipped,
            )

        return await attempt(go())

    @strawberry.mutation(
        description="Cancel a queued or running run (its starter, editors of its versions, admins)."
    )
    async def cancel_run(self, info: Info, run: strawberry.ID) -> RunResult:
        async def go() -> Run:
            user = info.context.require_user()
            run_id = _run_id(info, run)
            await runs.visible_run(info.context.services, user, run_id)
            return await _visible(info, await runs.cancel_run(info.context.services, run_id, user))

        return await attempt(go())

    @strawberry.mutation(
        description="Run the experiment of a finished run again (answers the active run if one is "
        "queued or running)."
    )
    async def rerun(self, info: Info, run: strawberry.ID) -> RunResult:
        async def go() -> Run:
            user = info.context.require_user()
            old = await runs.visible_run(info.context.services, user, _run_id(info, run))
            new = await runs.create_run(
                info.context.services, old.model_version_uri, old.protocol_version_uri, caller=user
            )
            return await _visible(info, new)

        return await attempt(go())
