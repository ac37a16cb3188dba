"""One function call in a child process that is really gone at its deadline, or when its parent is.

Engine code runs untrusted protocols (an experiment, or just reading a protocol's
interface), and a protocol can loop in compiled code or allocate without bound,
where no flag or exception reaches it. So the call runs in a child process, and
stopping it means SIGKILL, to its whole process group: the child starts a session
of its own, so whatever it started goes with it.

Children are forked from a ``multiprocessing`` forkserver that has the engine
imported already, so a child does not pay for importing numpy and the engine again
(about a second, more on a busy machine).

A child must not outlive its parent either (a worker killed with SIGKILL runs no
clean-up), yet its parent in the process tree is the forkserver, which lives as
long as any child does. So the real parent hands the child a *lifeline*, the read
end of a pipe whose write end only the parent holds, and the child forks a watchdog
that blocks reading it: the read returns when the parent's end is closed, by exit
or by death, and the watchdog kills the child's group. The watchdog is a process,
not a thread, so that an engine stuck in compiled code holding the GIL is killed too.

The call's return value comes back over a pipe of its own (:meth:`Child.answer`);
a caller that only watches files the child writes need not ask for it, and one
that keeps the child to serve many requests passes it a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext
from pathlib import Path
from types import TracebackType
from typing import Any

# Imported by the forkserver once, so that children start with it: the engine, what every child here runs.
PRELOAD = ("worker.fc",)


class ChildTimedOut(Exception):
    """The child did not answer within its time; it was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


class ChildDied(Exception):
    """The child ended without answering; ``exitcode`` is multiprocessing's (negative: killed by that signal)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"the child process {how_it_ended(exitcode)} without answering")
        self.exitcode = exitcode


def how_it_ended(exitcode: int | None) -> str:
    """A process's end in words, as in "the process ... without reporting a result"."""
    if exitcode is not None and exitcode < 0:
        return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


@functools.cache
def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, *PRELOAD])
    return context


class Child:
    """``target(*args)`` in a child process of its own session, killable as a group.

    ``stdout``: a file that receives everything the child prints (stdout and stderr; its stdin is then
    ``/dev/null``), else it shares the parent's. ``memory_bytes``: the child's address space
    (``RLIMIT_AS``; 0: unbounded), so that an allocation past it is a ``MemoryError`` in the child.
    ``daemon``: multiprocessing's, for a child that serves until told to stop, so that the parent's exit
    stops it rather than waits for it.
    Use as a context manager (or call :meth:`close`): leaving it kills the group and reaps the child.
    The object holds the lifeline: once it is garbage, so is the child.
    """

    def __init__(
        self,
        target: Callable[..., Any],
        *args: Any,
        name: str,
        stdout: Path | None = None,
        memory_bytes: int = 0,
        daemon: bool = False,
    ) -> None:
        context = _context()
        self._answers, answer_end = context.Pipe(duplex=False)
        lifeline, self._lifeline = context.Pipe(duplex=False)
        self._ends = (answer_end, lifeline)  # the child's ends, let go of once it has them
        self.process = context.Process(
            target=_bootstrap,
            name=name,
            daemon=daemon,
            args=(target, args, answer_end, lifeline, str(stdout) if stdout else None, memory_bytes),
        )

    def start(self) -> None:
        """Start the child (blocking briefly: the forkserver answers over a socket, and starts itself first)."""
        try:
            self.process.start()
        finally:
            for end in self._ends:
                end.close()

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    def answer(self, timeout: float) -> Any:
        """What ``target`` returned. At ``timeout`` seconds the child is killed and :class:`ChildTimedOut`
        raised; a child that ends without answering raises :class:`ChildDied`."""
        ready = wait([self._answers, self.process.sentinel], timeout)
        if self._answers in ready:
            with contextlib.suppress(EOFError, OSError):
                return self._answers.recv()
        if not ready:
            self.kill()
            self.process.join()
            raise ChildTimedOut(timeout)
        self.process.join(1)  # the pipe closed or the process ended: it is going, if not gone
        raise ChildDied(self.process.exitcode)

    async def exited(self, timeout: float) -> bool:
        """Whether the child has exited, waiting up to ``timeout`` seconds (multiprocessing has no async wait)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.process.exitcode is None:
            if loop.time() >= end:
                return False
            await asyncio.sleep(0.02)
        return True

    def kill(self) -> None:
        """SIGKILL the child's group: the child, its watchdog, and anything it started."""
        pid = self.process.pid
        if pid is None:  # not started
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            self.process.kill()  # not yet in its own group

    def join(self, timeout: float | None = None) -> None:
        self.process.join(timeout)

    def close(self) -> None:
        """Kill the group and reap the child (within 5 s: a SIGKILLed process is gone at once)."""
        self.kill()
        with contextlib.suppress(AssertionError):  # never started
            self.process.join(5)
        self._lifeline.close()
        self._answers.close()

    def __enter__(self) -> Child:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


# -- in the child ---------------------------------------------------------------------------------


def _bootstrap(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    answers: Connection,
    lifeline: Connection,
    stdout: str | None,
    memory_bytes: int,
) -> None:
    os.setsid()
    _watch(lifeline)
    lifeline.close()
    if stdout is not None:
        _redirect_output(stdout)
    if memory_bytes > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    result = target(*args)
    with contextlib.suppress(OSError):  # the parent is not listening (any more)
        answers.send(result)
    answers.close()


def _watch(lifeline: Connection) -> None:
    """Fork the watchdog: it kills this process group once the parent's end of ``lifeline`` is closed.

    It keeps no other file open, so that the parent sees the child's ends of their pipes close with it."""
    if os.fork() != 0:
        return
    try:
        fd = lifeline.fileno()
        os.closerange(0, fd)
        os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):  # the parent writes nothing: this returns at its end
                pass
        os.killpg(0, signal.SIGKILL)
    finally:
        os._exit(0)


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
