"""worker.child: a call in a child process that answers, or is killed at its deadline, or with its parent.

The engine runs (worker.runner) and protocol interface reads (resolvers.describe)
both stand on it; these tests drive it directly, with small targets of their own.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from worker.child import Child, ChildDied, ChildTimedOut, how_it_ended

ROOT = (
    Path(__file__).resolve().parents[2]
)  # not tests.conftest's: children import this module, and it is light


def _double(x: int) -> int:
    return 2 * x


def _exit_with(code: int) -> None:
    os._exit(code)


def _allocate(size: int) -> str:
    try:
        bytearray(size)
    except MemoryError:
        return "MemoryError"
    return "allocated"


def _start_grandchild_and_hang(pid_file: str) -> None:
    """Record this process's pid and that of a grandchild it leaves running, then never return."""
    grandchild = subprocess.Popen(["sleep", "600"])
    Path(pid_file).write_text(f"{os.getpid()} {grandchild.pid}")
    while True:
        time.sleep(1)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} is still running")
        time.sleep(0.05)


def _pids(pid_file: Path, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while not pid_file.exists() or not pid_file.read_text():
        if time.monotonic() > deadline:
            pytest.fail("the child never started")
        time.sleep(0.05)
    return [int(p) for p in pid_file.read_text().split()]


def test_the_answer_is_what_the_target_returned() -> None:
    with Child(_double, 21, name="weblab-test") as child:
        assert child.answer(30) == 42


def test_a_child_past_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    with Child(_start_grandchild_and_hang, str(pid_file), name="weblab-test") as child:
        pids = _pids(pid_file)
        with pytest.raises(ChildTimedOut, match="no answer within 0.5 s"):
            child.answer(0.5)
        assert child.exitcode == -9
    for pid in pids:
        _wait_gone(pid)


def test_a_child_that_ends_without_answering_says_how() -> None:
    with Child(_exit_with, 3, name="weblab-test") as child:
        with pytest.raises(ChildDied) as died:
            child.answer(30)
    assert died.value.exitcode == 3
    assert "exited with code 3" in str(died.value)
    assert how_it_ended(-9) == "was killed by signal 9"


def _hold_and_exit(conn: Connection) -> None:
    conn.recv()
    os._exit(5)


def test_a_connection_handed_to_the_child_closes_when_it_dies() -> None:
    """A serving child's death is seen at once on its connection (its watchdog holds no copy of it)."""
    ours, theirs = multiprocessing.Pipe()
    with Child(_hold_and_exit, theirs, name="weblab-test") as child:
        theirs.close()
        ours.send("go")
        started = time.monotonic()
        assert ours.poll(20)
        with pytest.raises(EOFError):
            ours.recv()
        assert time.monotonic() - started < 10
        child.join(5)
        assert child.exitcode == 5


def test_the_memory_limit_is_a_memory_error_in_the_child() -> None:
    with Child(_allocate, 1 << 31, name="weblab-test", memory_bytes=1 << 30) as child:
        assert child.answer(30) == "MemoryError"
    with Child(_allocate, 1 << 20, name="weblab-test", memory_bytes=1 << 30) as child:
        assert child.answer(30) == "allocated"


def test_output_goes_to_the_file_given(tmp_path: Path) -> None:
    out = tmp_path / "stdout.txt"
    with Child(print, "hello from the child", name="weblab-test", stdout=out) as child:
        assert child.answer(30) is None
    assert out.read_text() == "hello from the child\n"


PARENT = """
import sys, time
from tests.runs.test_runner_child import _start_grandchild_and_hang
from worker.child import Child

child = Child(_start_grandchild_and_hang, sys.argv[1], name="weblab-test")  # kept: it holds the lifeline
child.start()
time.sleep(600)
"""


def test_a_child_does_not_outlive_its_parent(tmp_path: Path) -> None:
    """The parent in the process tree is the forkserver, which a SIGKILLed parent leaves running:
    the lifeline, not the process tree, is what takes the child (and its group) down."""
    pid_file = tmp_path / "pids"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], cwd=ROOT)
    pids: list[int] = []
    try:
        pids = _pids(pid_file)
        assert all(_alive(pid) for pid in pids)
        parent.kill()
        parent.wait()
        for pid in pids:
            _wait_gone(pid)
    finally:
        parent.kill()
        parent.wait()
        for pid in filter(_alive, pids):  # orphans left by a failure
            os.kill(pid, 9)
