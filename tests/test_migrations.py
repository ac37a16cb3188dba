"""The migration runner: order, idempotence, concurrent starts, bad file names."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from resolvers import db


async def _fresh_pool(database_url: str, name: str):
    import psycopg

    from tests.conftest import _with_database

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return await db.open_pool(_with_database(database_url, name), max_size=4)


async def test_migrations_apply_in_order_once(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("INSERT INTO things VALUES (2);")
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE things (n int);")
    pool = await _fresh_pool(database_url, "weblab_mig_order")
    try:
        applied = await db.migrate(pool, tmp_path)
        assert [m.version for m in applied] == [1, 2]
        assert await db.migrate(pool, tmp_path) == []
        (tmp_path / "0003_third.sql").write_text("INSERT INTO things VALUES (3);")
        assert [m.name for m in await db.migrate(pool, tmp_path)] == ["third"]
        async with pool.connection() as conn:
            rows = await (await conn.execute("SELECT n FROM things ORDER BY n")).fetchall()
        assert rows == [(2,), (3,)]
        assert await db.current_version(pool) == 3
    finally:
        await pool.close()


async def test_concurrent_starts_apply_each_migration_once(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_count.sql").write_text("CREATE TABLE applied (n int); INSERT INTO applied VALUES (1);")
    pool = await _fresh_pool(database_url, "weblab_mig_race")
    try:
        results = await asyncio.gather(*(db.migrate(pool, tmp_path) for _ in range(3)))
        assert sorted(len(r) for r in results) == [0, 0, 1]
        async with pool.connection() as conn:
            assert await (await conn.execute("SELECT count(*) FROM applied")).fetchone() == (1,)
    finally:
        await pool.close()


async def test_a_failing_migration_leaves_nothing_half_done(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_broken.sql").write_text("CREATE TABLE half (n int); SELECT no_such_function();")
    pool = await _fresh_pool(database_url, "weblab_mig_broken")
    try:
        with pytest.raises(Exception, match="no_such_function"):
            await db.migrate(pool, tmp_path)
        async with pool.connection() as conn:
            exists = await (await conn.execute("SELECT to_regclass('half')")).fetchone()
        assert exists == (None,)
        assert await db.current_version(pool) == 0
    finally:
        await pool.close()


def test_badly_named_migration_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "add_users.sql").write_text("")
    with pytest.raises(ValueError, match="add_users.sql"):
        db.migrations(tmp_path)


def test_the_shipped_migrations_are_well_formed() -> None:
    shipped = db.migrations()
    assert [m.version for m in shipped] == sorted({m.version for m in shipped})
    assert shipped[0].version == 1
