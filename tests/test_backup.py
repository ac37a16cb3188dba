"""``weblab backup`` then ``weblab restore`` into an empty data directory and database gives the same
deployment: users and their credentials, runs, the triple store, the entity repositories and run archives."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from resolvers import accounts
from resolvers.entities import Entities
from resolvers.metadata import Kind
from resolvers.services import Services
from resolvers.settings import Settings
from resolvers.uploads import Upload
from tests.conftest import BASE, REDIS_URL, ROOT, SHARED_DATA, fresh_database
from web.services import start_services


def _settings(data_dir: Path, database: str, queue: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        base_uri=BASE,
        database_url=database,
        redis_url=REDIS_URL,
        queue_name=queue,
        import_demo=False,
        auto_run=False,
        secret_key="backup-test-secret",
    )


@pytest.fixture
def deployments(tmp_path: Path) -> Iterator[tuple[Settings, Settings]]:
    queue = f"backup-{uuid.uuid4().hex}"
    with fresh_database("backup_a") as first, fresh_database("backup_b") as second:
        yield _settings(tmp_path / "a", first, queue), _settings(tmp_path / "b", second, queue)


def weblab(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBLAB_")}
    env.update(
        {
            "WEBLAB_DATA_DIR": str(settings.data_dir),
            "WEBLAB_BASE_URI": settings.base_uri,
            "WEBLAB_DATABASE_URL": str(settings.database_url),
            "WEBLAB_REDIS_URL": REDIS_URL,
            "WEBLAB_QUEUE_NAME": settings.queue_name,
            "WEBLAB_SECRET_KEY": "backup-test-secret",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _snapshot(services: Services) -> dict[str, object]:
    async with services.db.connection() as conn:
        users = await (
            await conn.execute("SELECT id, name, email, password_hash, roles FROM users ORDER BY id")
        ).fetchall()
        tokens = await (
            await conn.execute("SELECT id, user_id, token_hash FROM api_tokens ORDER BY id")
        ).fetchall()
        run_rows = await (
            await conn.execute("SELECT id, status, archive_path, experiment_uri FROM runs ORDER BY id")
        ).fetchall()
    return {"users": users, "tokens": tokens, "runs": run_rows, "quads": set(services.store.quads())}


async def test_a_backup_restores_into_an_empty_deployment(
    deployments: tuple[Settings, Settings], tmp_path: Path
) -> None:
    first, second = deployments
    cellml = SHARED_DATA / "cellml" / "beeler_reuter_model_1977.cellml"
    services = await start_services(first)
    try:
        owner = await accounts.create_user(
            services.db, "keeper", "keeper@example.org", "correct horse", frozenset({"admin"})
        )
        token = await accounts.create_token(services.db, owner, "scripts")
        entity, version = await Entities.from_services(services).publish(
            owner, Kind.MODEL, "kept model", [Upload(cellml.name, cellml.read_bytes())], visibility="private"
        )
        run_id = str(uuid.uuid4())
        archive = first.data_dir / "archives" / "runs" / f"{run_id}.omex"
        archive.parent.mkdir(parents=True)
        archive.write_bytes(b"a result archive")
        async with services.db.connection() as conn:
            await conn.execute(
                "INSERT INTO runs (id, experiment_uri, model_version_uri, protocol_version_uri, status, archive_path,"
                " queue_name, error) VALUES (%s, 'urn:test:e', %s, 'urn:test:p', 'SUCCESS', %s, %s, %s)",
                (
                    run_id,
                    version.uri,
                    str(archive.relative_to(first.data_dir)),
                    first.queue_name,
                    "a message\nof two lines",
                ),
            )
        before = await _snapshot(services)
    finally:
        await services.close()

    backup = tmp_path / "backups" / "weblab.tar.gz"
    made = weblab(first, "backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"backed up to {backup}: 1 users, 1 api_tokens") and backup.is_file()
    assert "1 runs;" in made.stdout  # the run whose error holds a line break counts once

    restored = weblab(second, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    services = await start_services(second)
    try:
        after = await _snapshot(services)
        assert {k: v for k, v in after.items() if k != "quads"} == {
            k: v for k, v in before.items() if k != "quads"
        }
        assert after["quads"] == before["quads"], (
            sorted(map(str, after["quads"] - before["quads"]))[:5],
            sorted(map(str, before["quads"] - after["quads"]))[:5],
        )
        assert (await accounts.user_for_token(services.db, str(token.secret))).name == "keeper"
        _, data = await Entities.from_services(services).read_file(
            owner, entity.uri, version.sha, cellml.name
        )
        assert data == cellml.read_bytes()
        assert (second.data_dir / "archives" / "runs" / f"{run_id}.omex").read_bytes() == b"a result archive"
    finally:
        await services.close()

    again = weblab(second, "restore", str(backup))
    assert again.returncode == 1 and "restore needs an empty deployment" in again.stderr


async def test_a_restore_under_another_base_uri_is_refused(
    deployments: tuple[Settings, Settings], tmp_path: Path
) -> None:
    first, second = deployments
    backup = tmp_path / "empty.tar.gz"
    assert weblab(first, "backup", str(backup)).returncode == 0
    moved = second.model_copy(update={"base_uri": "https://weblab.example.org/"})
    refused = weblab(moved, "restore", str(backup))
    assert refused.returncode == 1
    assert f"weblab rebase {BASE} https://weblab.example.org/" in refused.stderr
