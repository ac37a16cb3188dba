"""Fixtures for the entity tests: the entity service over the session's real services, and small real files."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from resolvers.entities import Entities
from resolvers.services import Services
from resolvers.uploads import Upload
from tests.apps import app_client


@pytest.fixture(scope="session")
def entities(services: Services) -> Entities:
    return Entities.from_services(services)


@pytest.fixture(scope="session")
def cellml_dir(shared_data: Path) -> Path:
    return shared_data / "cellml"


@pytest.fixture(scope="session")
def beeler_reuter(cellml_dir: Path) -> Upload:
    path = cellml_dir / "beeler_reuter_model_1977.cellml"
    return Upload(path.name, path.read_bytes())


@pytest.fixture(scope="session")
def noble(cellml_dir: Path) -> Upload:
    path = cellml_dir / "noble_model_1962.cellml"
    return Upload(path.name, path.read_bytes())


@pytest_asyncio.fixture(scope="session")
async def http(settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, services) as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def small_http(settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The same platform with small upload limits (10 kB per file, 50 kB unpacked), to test them cheaply."""
    small = settings.model_copy(update={"max_upload_bytes": 10_000, "max_unpacked_bytes": 50_000})
    async with app_client(small, dataclasses.replace(services, settings=small)) as client:
        yield client
