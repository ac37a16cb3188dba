"""How many queries one client may have on the query workers at a time.

Without it, a caller that sends as many runaway queries as there are workers
holds every worker until the deadline, and everyone else waits. A client (the
route decides who that is: the signed-in user, whether by API token or
session, else the socket peer's address) gets ``per_client`` slots; its next
``queue`` queries wait, in order, for one of its own slots to free up (the
wait counts against the query's deadline, as waiting for a worker does); past
that it is refused at once with :class:`TooManyQueries`, which says when one
of its running queries is sure to have ended (``retry_after``).

Why queue at all rather than refuse everything over the limit: ordinary
clients send a few queries in parallel (a page's panels, a script with a small
thread pool) and expect them all answered; the queue keeps that working, and
bounding it keeps what a flood can park on the server small.

>>> import asyncio, time
>>> limiter = ClientLimiter(per_client=1, queue=0)
>>> async def demo():
...     held = await limiter.acquire("alice", time.monotonic() + 5)
...     try:
...         await limiter.acquire("alice", time.monotonic() + 5)
...     except TooManyQueries as exc:
...         print("refused; retry after", exc.retry_after, "s")
...     other = await limiter.acquire("bob", time.monotonic() + 5)  # others are not held up
...     limiter.release(held)
...     limiter.release(other)
>>> asyncio.run(demo())
refused; retry after 5 s
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field


class TooManyQueries(Exception):
    """The client already has ``running`` queries running and its queue is full."""

    def __init__(self, running: int, waiting: int, retry_after: int) -> None:
        super().__init__(
            f"this client already has {running} SPARQL queries running and {waiting} waiting, as many as it may; "
            f"send the next one when one of them has finished (at the latest in {retry_after} s, its deadline)"
        )
        self.retry_after = retry_after


@dataclass
class _Client:
    running: list[float] = field(default_factory=list)  # the deadlines of its running queries
    waiting: deque[tuple[asyncio.Future[None], float]] = field(default_factory=deque)


Slot = tuple[str, float] | None


class ClientLimiter:
    """``per_client`` running queries per client (0: no limit), and ``queue`` more waiting (default: as many)."""

    def __init__(self, per_client: int, queue: int | None = None) -> None:
        self.per_client = per_client
        self.queue = per_client if queue is None else queue
        self._clients: dict[str, _Client] = {}

    def running(self, client: str) -> int:
        state = self._clients.get(client)
        return len(state.running) if state else 0

    async def acquire(self, client: str | None, deadline: float) -> Slot:
        """A slot for a query of ``client`` that must end by ``deadline`` (``time.monotonic()``).

        Raises :class:`TooManyQueries` when the client's queue is full, ``TimeoutError`` when the
        deadline passes while waiting. ``None`` (no client, no limit) is a slot that needs no release.
        """
        if client is None or self.per_client <= 0:
            return None
        state = self._clients.setdefault(client, _Client())
        if len(state.running) < self.per_client:
            state.running.append(deadline)
            return client, deadline
        if len(state.waiting) >= self.queue:
            retry = max(1, math.ceil(min(state.running) - time.monotonic()))
            raise TooManyQueries(len(state.running), len(state.waiting), retry)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, deadline)
        state.waiting.append(entry)
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed the slot just as the wait ended: pass it on
                self.release((client, deadline))
            else:
                if entry in state.waiting:  # (a release may have dropped it already, seeing it cancelled)
                    state.waiting.remove(entry)
                self._forget_if_idle(client, state)
            raise
        return client, deadline

    def release(self, slot: Slot) -> None:
        """Give back a slot: to the client's longest-waiting query, if any."""
        if slot is None:
            return
        client, deadline = slot
        state = self._clients[client]
        state.running.remove(deadline)
        while state.waiting:
            waiter, next_deadline = state.waiting.popleft()
            if not waiter.done():
                state.running.append(next_deadline)
                waiter.set_result(None)
                return
        self._forget_if_idle(client, state)

    def _forget_if_idle(self, client: str, state: _Client) -> None:
        if not state.running and not state.waiting and self._clients.get(client) is state:
            del self._clients[client]
