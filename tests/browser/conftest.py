"""Browser tests: Debian's Chromium, driven by Playwright, against a real ``weblab serve``.

The server runs as its own process (uvicorn, as in production; the app from
``tests/browser/server_app.py``) on a free port, on a fresh
PostgreSQL database of its own (tests make its users with ``server_user``) and
the test Redis, with its own data directory (so its
triple store is not shared with the test process) and an in-process experiment
worker, so runs started in the browser really finish.

Screenshots go to ``test-artifacts/screenshots``; time-to-usable figures (from
the navigation start to the page's ``usable`` performance mark, which a page
sets once its data is on screen) go to ``test-artifacts/time-to-usable.json``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests import servers
from tests.conftest import ROOT, MakeUser, fresh_database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
START_TIMEOUT = 60.0
DEMO_START_TIMEOUT = 300.0


@contextlib.contextmanager
def _serve(database_url: str, data_dir: Path, *, import_demo: bool, timeout: float) -> Iterator[str]:
    # the workflow test starts its experiment from the matrix, so auto-run stays off
    with servers.serve(
        database_url,
        data_dir,
        timeout=timeout,
        import_demo="true" if import_demo else "false",
        secret_key="browser-test-secret",
    ) as base:
        yield base


@pytest.fixture(scope="session")
def server_database() -> Iterator[str]:
    with fresh_database("browser") as url:
        yield url


@pytest.fixture(scope="session")
def server(server_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running server with no content."""
    with _serve(
        server_database, tmp_path_factory.mktemp("browser-server"), import_demo=False, timeout=START_TIMEOUT
    ) as base:
        yield base


@pytest_asyncio.fixture(scope="session")
async def server_user(server: str, server_database: str) -> AsyncIterator[MakeUser]:
    """Makes users of ``server``: ``user, token = await server_user("alice")``."""
    async with servers.users_of(server_database) as make:
        yield make


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a running server holding the demo corpus (imported at start-up; slow)."""
    with (
        fresh_database("demo") as url,
        _serve(
            url, tmp_path_factory.mktemp("browser-demo"), import_demo=True, timeout=DEMO_START_TIMEOUT
        ) as base,
    ):
        yield base


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at /usr/bin/chromium: apt-get install -y chromium (make test does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


class Timings:
    """Time-to-usable per page, collected over the session and written once at the end."""

    def __init__(self) -> None:
        self.pages: dict[str, list[float]] = {}

    def add(self, page: str, ms: float) -> None:
        self.pages.setdefault(page, []).append(round(ms, 1))

    def write(self) -> None:
        if not self.pages:
            return
        ARTIFACTS.mkdir(exist_ok=True)
        summary = {name: {"max_ms": max(v), "runs": v} for name, v in sorted(self.pages.items())}
        (ARTIFACTS / "time-to-usable.json").write_text(json.dumps(summary, indent=2) + "\n")


@pytest.fixture(scope="session")
def timings() -> Iterator[Timings]:
    t = Timings()
    yield t
    t.write()
