"""Redis restarted (emptied) while runs are queued: the runs are queued again from PostgreSQL and then run."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from arq.jobs import Job, JobStatus

from resolvers import runs
from resolvers.services import Services
from tests.runs.conftest import Publish, Workers, wait_for
from web.services import open_redis


class PrivateRedis:
    """A redis-server of our own (no persistence), so that restarting it disturbs no one else."""

    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; the Redis restart test needs its own server")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _connect(url: str) -> Any:
    for _ in range(100):
        try:
            return await open_redis(url)
        except Exception:
            await asyncio.sleep(0.05)
    return await open_redis(url)


async def test_queued_runs_survive_a_redis_restart(
    services: Services,
    private_redis: PrivateRedis,
    workers: Workers,
    publish: Publish,
    owner: Any,
    model_files: list,
) -> None:
    user, _ = owner
    model = await publish(user, model=model_files[0])
    before = dataclasses.replace(services, redis=await _connect(private_redis.url))
    queued = [await runs.create_run(before, model, await publish(user), queue="bulk") for _ in range(2)]
    await before.redis.aclose()

    private_redis.kill()  # the queue is lost with the server
    private_redis.start()
    after = dataclasses.replace(services, redis=await _connect(private_redis.url))
    try:
        queue = services.settings.queue_name
        assert all(
            [await Job(r.id, after.redis, _queue_name=queue).status() == JobStatus.not_found for r in queued]
        )
        report = await runs.recover(after)
        assert set(report.requeued) >= {r.id for r in queued}
        workers.start(redis_url=private_redis.url)
        done = [await wait_for(services, r.id, lambda r: r.finished) for r in queued]
        assert [(r.status, r.error) for r in done] == [("SUCCESS", None)] * 2
    finally:
        await after.redis.aclose()
