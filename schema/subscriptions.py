"""Subscriptions (graphql-transport-ws): a run's status and progress, an entity's new versions.

Both watch the source of truth (the runs table, the entity's version graphs)
at a short interval rather than relying on a message bus, so they see changes
made by any process (workers report through the runner callback of any web
process). The caller's right to see the run or entity is checked at the
start and again for every event, so revoking it stops the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry

from resolvers.errors import NotFound
from schema.context import Info
from schema.mutations.entities import entity_uri_of
from schema.mutations.runs import _run_id
from schema.types.entities import Version
from schema.types.runs import Run

POLL_SECONDS = 0.5


@strawberry.type(description="Live updates.")
class Subscription:
    @strawberry.subscription(
        description="The run now and at every change of status or progress; ends once it "
        "reaches a final status."
    )
    async def run_updates(self, info: Info, run: strawberry.ID) -> AsyncGenerator[Run, None]:
        run_id = _run_id(info, run)
        last = None
        while True:
            info.context.refresh()
            found = await info.context.loaders.visible_run(run_id)
            if found is None:
                raise NotFound(f"no run {run}")
            state = (found.status, found.progress_done, found.progress_total, found.attempts)
            if state != last:
                last = state
                yield Run.of(info, found)
            if found.finished:
                return
            await asyncio.sleep(POLL_SECONDS)

    @strawberry.subscription(description="Each version added to the entity from now on (that you may see).")
    async def new_versions(self, info: Info, entity: strawberry.ID) -> AsyncGenerator[Version, None]:
        uri = entity_uri_of(info, entity)
        seen: set[str] | None = None
        while True:
            info.context.refresh()
            record = await info.context.loaders.visible_entity(uri)
            if record is None:
                raise NotFound(f"no entity {entity}")
            visible = await info.context.loaders.visible_versions(record)
            if seen is not None:
                for v in visible:
                    if v.uri not in seen:
                        yield Version.of(info, record, v)
            seen = {v.uri for v in visible} | (seen or set())
            await asyncio.sleep(POLL_SECONDS)
