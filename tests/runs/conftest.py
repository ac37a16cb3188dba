"""Fixtures for the run pipeline: a real HTTP server for workers, real worker processes, real entity versions.

Workers are ``python -m web.cli worker`` processes that reach the app over
HTTP (uvicorn on a free port, in the session's event loop) with the shared
secret, exactly as on another machine. The app tells them to load
``tests.runs.standin_engine`` (``app.state.run_engine``), which runs test
protocols itself and hands every other protocol to the real engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn

from resolvers import runs
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from resolvers.settings import Settings
from resolvers.uploads import Upload
from tests.apps import build_app, close_sparql
from tests.conftest import ROOT, MakeUser, free_port
from tests.runs.standin_engine import protocol_text

ENGINE = "tests.runs.standin_engine"


@pytest_asyncio.fixture(scope="package", autouse=True)
async def _no_runs_left_by_other_tests(services: Services) -> None:
    """Other test packages queue runs they never run (GraphQL mutations, for example) on the same queue,
    some on entities they delete afterwards; the pipeline tests' workers and recovery must not inherit them."""
    async with services.db.connection() as conn:
        await conn.execute(
            "UPDATE runs SET status = 'CANCELLED', finished_at = now(),"
            " error = 'cleared before the pipeline tests' WHERE status IN ('QUEUED', 'RUNNING')"
        )
    await services.redis.delete(services.settings.queue_name)


@pytest_asyncio.fixture(scope="session")
async def server_url(settings: Settings, services: Services) -> AsyncIterator[str]:
    """The app served over real HTTP, for worker processes."""
    app = build_app(settings, services)
    app.state.run_engine = ENGINE
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        await close_sparql(app)


class Workers:
    """Worker processes started by one test; every one is stopped (killed if need be) afterwards."""

    def __init__(self, settings: Settings, server_url: str, tmp: Path) -> None:
        self.env = {
            **os.environ,
            "WEBLAB_REDIS_URL": str(settings.redis_url),
            "WEBLAB_QUEUE_NAME": settings.queue_name,
            "WEBLAB_SECRET_KEY": settings.signing_key,
            "WEBLAB_SERVER_URL": server_url,
            "WEBLAB_DATA_DIR": str(tmp),
            "WEBLAB_LOG_LEVEL": "WARNING",
        }
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, redis_url: str | None = None) -> subprocess.Popen[bytes]:
        env = {**self.env, "WEBLAB_REDIS_URL": redis_url} if redis_url else self.env
        with (self.tmp / f"worker-{len(self.procs)}.log").open("wb") as log:  # the child writes its own copy
            proc = subprocess.Popen(
                [sys.executable, "-m", "web.cli", "worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(settings: Settings, server_url: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(settings, server_url, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def entities(services: Services) -> Entities:
    from ontology.graphs import load_ontologies

    load_ontologies(
        services.store, services.settings.base_uri
    )  # idempotent; compatibility reads terms through it
    return Entities.from_services(services)


@pytest.fixture(scope="session")
def model_files(shared_data: Path) -> list[Path]:
    return [
        shared_data / "cellml" / name
        for name in ("beeler_reuter_model_1977.cellml", "noble_model_1962.cellml")
    ]


Publish = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
def publish(entities: Entities) -> Publish:
    """Publishes a model (a CellML path) or a stand-in protocol (a spec) as ``user``; returns the version URI."""
    counter = iter(range(1_000_000))

    async def make(user: Any, *, model: Path | None = None, visibility: str = "public", **spec: Any) -> str:
        n = next(counter)
        if model is not None:
            upload, kind, name = Upload(model.name, model.read_bytes()), Kind.MODEL, f"{model.stem} {n}"
        else:
            upload, kind, name = (
                Upload("protocol.txt", protocol_text(**spec).encode()),
                Kind.PROTOCOL,
                f"stand-in {n}",
            )
        _, version = await entities.publish(
            user, kind, name, [upload], visibility=visibility, main=upload.name
        )
        return version.uri

    return make


@pytest_asyncio.fixture(scope="session")
async def owner(make_user: MakeUser) -> tuple[Any, str]:
    return await make_user("runner")


async def wait_for(
    services: Services, run_id: str, predicate: Callable[[runs.Run], bool], timeout: float = 90.0
) -> runs.Run:
    """Poll the run's row until ``predicate`` holds; fail with the run's state when it never does."""
    deadline = time.monotonic() + timeout
    run = await runs.get_run(services.db, run_id)
    while not predicate(run):
        if time.monotonic() > deadline:
            pytest.fail(f"run {run_id} never reached the expected state; it is {run}")
        await asyncio.sleep(0.2)
        run = await runs.get_run(services.db, run_id)
    return run


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            pytest.fail(f"engine process {pid} is still running")
        await asyncio.sleep(0.1)


async def wait_pid(pid_dir: Path, timeout: float = 60.0) -> int:
    """The pid of the engine child once it has started (the stand-in writes it)."""
    deadline = time.monotonic() + timeout
    while not any(pid_dir.iterdir()):
        if time.monotonic() > deadline:
            pytest.fail("the engine child never started")
        await asyncio.sleep(0.1)
    return int(next(pid_dir.iterdir()).name)


@contextlib.asynccontextmanager
async def http(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client
