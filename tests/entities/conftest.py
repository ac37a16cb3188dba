"""Fixtures for the entity tests: the entity service over the session's real services, and small real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from resolvers.entities import Entities
from resolvers.uploads import Upload
from web.services import Services


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
