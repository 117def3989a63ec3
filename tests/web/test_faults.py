"""Faults answered as faults: a lost database connection is UNAVAILABLE (retryable) and the
pool replaces its dead connections; an unreachable database fails fast; readiness says why."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from db import migrate
from db.database import Database
from db.urls import psycopg_conninfo
from tests.conftest import create_database, drop_database
from web.app import create_app
from web.settings import Settings

ZONES = {"query": "{ zones { code } }"}


def _backends(conn: psycopg.Connection, database: str) -> set[int]:
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", (database,)).fetchall()
    return {r[0] for r in rows}


def test_dead_connections_are_unavailable_then_replaced(settings: Settings,
                                                        db: psycopg.Connection) -> None:
    name = db.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    before = _backends(db, name)
    with TestClient(create_app(settings)) as client:
        assert client.post("/graphql", json=ZONES).json()["data"]["zones"]
        mine = _backends(db, name) - before
        assert mine, "the app opened no connections"
        for pid in mine:  # what a database restart does to a pool's idle connections
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        codes = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            body = client.post("/graphql", json=ZONES).json()
            if "errors" not in body:
                break
            codes.append(body["errors"][0]["extensions"]["code"])
        else:
            pytest.fail(f"no recovery within 10 s: {codes}")
        # At most the requests that met a dead connection before the pool's check failed,
        # each as a retryable fault, never a masked internal error.
        assert set(codes) <= {"UNAVAILABLE"}
        assert len(codes) <= 2, codes


def test_an_unreachable_database_fails_within_the_acquire_timeout(tmp_path: object) -> None:
    async def attempt() -> float:
        database = Database(f"host={tmp_path} dbname=nowhere", min_size=1, max_size=2,
                            acquire_timeout_s=1.0)
        await database.open(wait=False)
        await asyncio.sleep(0.3)  # the pool's first attempts to connect fail meanwhile
        started = time.monotonic()
        try:
            with pytest.raises((psycopg.OperationalError, Exception)) as caught:
                async with database.connection():
                    pass
            assert type(caught.value).__name__ in ("PoolTimeout", "OperationalError")
            assert not await database.ping()
            return time.monotonic() - started
        finally:
            await database.close()

    elapsed = asyncio.run(attempt())
    assert elapsed < 5.0  # the acquire timeout (1 s) and one ping (1 s), not the default 30 s


def test_ready_when_migrated_and_not_when_migrations_are_behind(
        settings: Settings, base_settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
    name = "redgrid_test_behind"
    behind = replace(create_database(base_settings, name), job_interval_s=0.0,
                     webhook_interval_s=0.0)
    try:
        migrate.upgrade(behind.database_url, "0004")
        with TestClient(create_app(behind)) as client:
            answer = client.get("/readyz")
            assert answer.status_code == 503 and answer.headers["retry-after"]
            problems = answer.json()["problems"]
            assert len(problems) == 1 and problems[0].startswith("migrations:")
            assert client.get("/healthz").status_code == 200
    finally:
        drop_database(base_settings, name)
    with psycopg.connect(psycopg_conninfo(settings.database_url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_other_routes_answer_a_lost_database_with_503_not_500(settings: Settings,
                                                              db: psycopg.Connection) -> None:
    name = db.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    before = _backends(db, name)
    with TestClient(create_app(settings)) as client:
        def page(n: int) -> httpx.Response:
            return client.get(f"/ogc/collections/compounds/items?limit=2&offset={n}")

        assert page(0).status_code == 200
        for pid in _backends(db, name) - before:
            db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        statuses = []
        for n in range(1, 40):
            response = page(n)
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            assert response.json()["code"] == "UNAVAILABLE"  # OGC's exception body
        assert statuses[-1] == 200 and len(statuses) <= 3, statuses
