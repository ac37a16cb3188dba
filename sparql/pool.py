"""A pool of killable query workers, so that a query's deadline really stops its work.

Each worker is a child process (:mod:`sparql.query_worker`) holding the store
open read-only. A query goes to an idle worker; if the answer has not come by
the deadline, the worker is killed (the query stops consuming CPU at once), a
fresh one is started in its place, and the caller gets :class:`QueryTimeout`.
Waiting for an idle worker counts against the same deadline, so a flood of
slow queries is answered with timeouts, not an ever-growing queue.

Idle workers are taken last-in first-out, so that under light load the same
worker answers request after request with its caches warm while the others
sleep. A job and its answer cross the pipe in one write each way (a large
answer's body in a write of its own, so that it is never copied), and the
deadline is an ``asyncio.timeout`` (no extra task per query).

Each worker's heap is bounded (``memory_mb``, see :mod:`sparql.query_worker`).
A worker that dies of it mid-query (Oxigraph aborts on a failed allocation:
``SIGABRT``; an overflowed stack is ``SIGSEGV``) is replaced, and the caller
gets :class:`QueryTooLarge` at once: the same query would only kill the next
worker too. A worker that dies otherwise (killed from outside) is replaced and
the job tried once more.

One client holds at most ``per_client`` workers at a time (:mod:`sparql.limits`),
so that its runaway queries leave the other workers to everyone else; its
waiting for a slot counts against the same deadline.

Children are started with ``asyncio.create_subprocess_exec`` and belong to
the event loop that started the pool; the kernel kills them if this process
dies (:mod:`worker.parent_death`), even mid-query, when no deadline is kept.
They are not :class:`worker.child.Child` processes: those are forked, and a
worker must start from a fresh interpreter (``exec``), never a fork of a process
that has a RocksDB store open and its threads running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import struct
import sys
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparql.limits import ClientLimiter
from sparql.query_worker import Header, Job, memory_message

log = logging.getLogger(__name__)
_LENGTH = struct.Struct(">Q")
_ANSWER = struct.Struct(">QQ")  # header length, body length


class QueryTimeout(Exception):
    """The query ran past its deadline and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the query did not finish within the {seconds:g} s limit and was stopped; "
            "make it more selective (LIMIT, more specific patterns) or ask an administrator for a longer limit"
        )
        self.seconds = seconds


class WorkerCrashed(RuntimeError):
    """A worker process died while running the job (and so did the one that retried it)."""


class QueryTooLarge(Exception):
    """The job made its worker run out of memory (or stack), and so was not tried again."""


# How a worker dies of its own memory: Oxigraph (Rust) aborts when an allocation fails, and an
# overflowed stack is a segmentation fault. Neither is how this pool stops a worker (SIGKILL).
_OUT_OF_MEMORY = {-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS}


@dataclass
class WorkerAnswer:
    header: Header
    body: bytes


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, job: Job) -> WorkerAnswer:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        payload = json.dumps(job).encode()
        stdin.write(_LENGTH.pack(len(payload)) + payload)
        await stdin.drain()
        header_size, body_size = _ANSWER.unpack(await stdout.readexactly(_ANSWER.size))
        if body_size < 1 << 16:
            answer = await stdout.readexactly(header_size + body_size)
            return WorkerAnswer(json.loads(answer[:header_size]), answer[header_size:])
        header = json.loads(
            await stdout.readexactly(header_size)
        )  # a large body is not copied out of a slice
        return WorkerAnswer(header, await stdout.readexactly(body_size))

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class QueryPool:
    """``size`` workers over the stores in ``paths`` (name → directory); :meth:`run` sends one job with a deadline."""

    def __init__(
        self, paths: dict[str, Path], size: int = 2, *, memory_mb: int = 0, per_client: int = 0
    ) -> None:
        self.paths = paths
        self.size = size
        self.memory_mb = memory_mb
        self.clients = ClientLimiter(per_client)
        self._tasks: set[asyncio.Task[None]] = (
            set()
        )  # replacements under way (the loop keeps only weak references)
        self._idle: list[_Worker] | None = None  # a stack: the most recently used worker is taken first
        self._waiting: deque[asyncio.Future[_Worker]] = deque()
        self._all: set[_Worker] = set()
        self._closed = False

    async def _spawn(self) -> _Worker:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "sparql.query_worker",
            f"--memory-mb={self.memory_mb}",
            *[f"{k}={v}" for k, v in self.paths.items()],
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 20,
        )
        worker = _Worker(process)
        self._all.add(worker)
        return worker

    @property
    def live_pids(self) -> frozenset[int]:
        """The worker processes now running: for operators and tests watching a deadline kill one and a new
        one take its place."""
        return frozenset(w.process.pid for w in self._all if w.process.returncode is None)

    @property
    def idle_count(self) -> int:
        """How many workers wait for a job (the others are running one); 0 before :meth:`start`."""
        return len(self._idle or ())

    async def start(self) -> None:
        if self._idle is not None:
            return
        self._idle = []
        for _ in range(self.size):
            self._release(await self._spawn())

    def _release(self, worker: _Worker) -> None:
        """Hand ``worker`` to the longest-waiting caller, or put it on the idle stack."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        assert self._idle is not None
        self._idle.append(worker)

    async def _acquire(self, timeout: float) -> _Worker:
        assert self._idle is not None
        if self._idle:
            return self._idle.pop()
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # handed a worker just as the wait ended: pass it on
                self._release(waiter.result())
            raise

    async def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._all.discard(worker)
        try:
            await worker.process.wait()
        except Exception:  # pragma: no cover - already reaped
            pass
        if not self._closed and self._idle is not None:
            self._release(await self._spawn())

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, job: Job, timeout: float, client: str | None = None) -> WorkerAnswer:
        """Run ``job`` on a worker; raise :class:`QueryTimeout` when it is not answered within ``timeout`` s.

        ``client`` (None: not limited) waits for one of its slots first, within the same deadline, and
        :class:`sparql.limits.TooManyQueries` is raised when it has too many queries already.
        A worker that dies of its memory limit raises :class:`QueryTooLarge`; one found dead otherwise
        (killed from outside) is replaced and the job tried once more on another; a job that kills two
        workers raises :class:`WorkerCrashed`.
        """
        await self.start()
        assert self._idle is not None
        deadline = time.monotonic() + timeout
        try:
            slot = await self.clients.acquire(client, deadline)
        except TimeoutError:
            raise QueryTimeout(timeout) from None
        try:
            return await self._run(job, timeout, deadline)
        finally:
            self.clients.release(slot)

    async def _run(self, job: Job, timeout: float, deadline: float) -> WorkerAnswer:
        for attempt in range(2):
            try:
                worker = await self._acquire(max(0.001, deadline - time.monotonic()))
            except TimeoutError:
                raise QueryTimeout(timeout) from None
            try:
                # asyncio.timeout rather than wait_for: no extra task per query.
                async with asyncio.timeout(max(0.001, deadline - time.monotonic())):
                    answer = await worker.ask(job)
            except (TimeoutError, asyncio.CancelledError) as exc:
                # Killing is the only way to stop an Oxigraph query; a new worker takes its place.
                self._in_background(self._replace(worker))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise QueryTimeout(timeout) from None
            except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError) as exc:
                try:  # it has closed its pipe: it is gone or going
                    async with asyncio.timeout(1.0):
                        code = await worker.process.wait()
                except TimeoutError:
                    code = None
                log.warning("query worker %s died (exit status %s): %r", worker.process.pid, code, exc)
                self._in_background(self._replace(worker))
                if code in _OUT_OF_MEMORY:
                    raise QueryTooLarge(memory_message(self.memory_mb)) from None
                if attempt == 1:
                    raise WorkerCrashed("the query stopped its worker process twice") from exc
                continue
            self._release(worker)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        self._closed = True
        for worker in list(self._all):
            worker.kill()
            try:
                await worker.process.wait()
            except Exception:  # pragma: no cover
                pass
        self._all.clear()
        self._idle = None
        for waiter in self._waiting:
            waiter.cancel()
        self._waiting.clear()
