"""Backups as a round trip: `redgrid db dump` the test database, `redgrid db restore` it into
a new one, and the same GraphQL queries give the same answers; a dump of another PostGIS
major version, a non-empty target or a missing description are refused, writing nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from db.backup import BackupError, _environment, _tool, description_path, restore
from tests.conftest import Minter, drop_database
from web.app import create_app
from web.settings import Settings

REDGRID = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "redgrid"
RESTORED = f"redgrid_test_restored_{os.getpid()}"
QUERIES = [
    "{ zones { code name communities { code households } } }",
    '{ locate(point: {lon: 118.657, lat: 34.918}) { gridCell { code } compound { code } '
    "community { code } zone { code } street { code } } }",
    "{ nearbyTickets(point: {lon: 118.65, lat: 34.92}, radiusM: 1000, first: 20) "
    "{ distanceM ticket { code status itemCode version events { action toStatus } } } }",
    "{ tickets(first: 30) { totalCount edges { cursor node { code status createdAt dueAt } } } }",
    '{ compounds(communityCode: "371329001001") { code name geometry } }',
]


def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDGRID_ENV": "development",
           "COLUMNS": "400"}  # no wrapped messages
    return subprocess.run([str(REDGRID), "db", *args], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def dumped(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "redgrid.dump"
    done = cli("dump", str(path), database_url=settings.database_url)
    assert done.returncode == 0, done.stderr
    assert "restore with `redgrid db restore" in done.stderr
    return path


@pytest.fixture
def base(base_settings: Settings) -> Iterator[Settings]:
    drop_database(base_settings, RESTORED)
    yield base_settings
    drop_database(base_settings, RESTORED)


def _answers(settings: Settings, token: str) -> list[Any]:
    with TestClient(create_app(settings)) as client:
        return [client.post("/graphql", json={"query": q},
                            headers={"Authorization": f"Bearer {token}"}).json()
                for q in QUERIES]


def _exists(settings: Settings, name: str) -> bool:
    with psycopg.connect(settings.cluster.conninfo("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


def test_a_restored_dump_answers_as_the_original(dumped: Path, settings: Settings,
                                                 base: Settings, token: Minter,
                                                 db: psycopg.Connection) -> None:
    described = json.loads(description_path(dumped).read_text())
    postgis = db.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'"
                         ).fetchone()
    assert postgis and described["postgis"] == postgis[0]
    assert described["migration"] == db.execute("SELECT version_num FROM alembic_version"
                                                ).fetchone()[0]  # type: ignore[index]
    done = cli("restore", str(dumped), "--database", RESTORED,
               database_url=settings.database_url)
    assert done.returncode == 0, done.stderr
    restored = replace(settings.with_database(RESTORED))
    county = token("COUNTY_OFFICE", sub="backup-test")
    original, again = _answers(settings, county), _answers(restored, county)
    for answer in original:
        assert "errors" not in answer, answer
    assert original[2]["data"]["nearbyTickets"] and original[3]["data"]["tickets"]["totalCount"]
    assert again == original
    # Once more into the same, now full, database: refused, nothing changed.
    refused = cli("restore", str(dumped), "--database", RESTORED,
                  database_url=settings.database_url)
    assert refused.returncode == 1 and "is not empty" in refused.stderr
    assert _answers(restored, county) == original


def test_a_dump_of_another_postgis_major_is_refused(dumped: Path, base: Settings,
                                                    tmp_path: Path) -> None:
    other = tmp_path / "old.dump"
    other.write_bytes(dumped.read_bytes())
    described = json.loads(description_path(dumped).read_text())
    description_path(other).write_text(json.dumps({**described, "postgis": "2.5.5"}))
    with pytest.raises(BackupError, match=r"taken with PostGIS 2\.5\.5; this server has "
                                          r"PostGIS 3\..*PostGIS 2\.x"):
        restore(base.with_database(RESTORED).database_url, other)
    assert not _exists(base, RESTORED)  # nothing written


def test_a_dump_without_its_description_is_refused(dumped: Path, base: Settings,
                                                   tmp_path: Path) -> None:
    bare = tmp_path / "bare.dump"
    bare.write_bytes(dumped.read_bytes())
    with pytest.raises(BackupError, match="bare.dump.json is missing.*`redgrid db dump`"):
        restore(base.with_database(RESTORED).database_url, bare)
    assert not _exists(base, RESTORED)


def test_dump_errors_say_what_to_do(dumped: Path, settings: Settings, tmp_path: Path) -> None:
    again = cli("dump", str(dumped), database_url=settings.database_url)
    assert again.returncode == 1 and "exists; remove it or name another file" in again.stderr
    away = cli("dump", str(tmp_path / "x.dump"),
               database_url=f"postgresql://redgrid@/nowhere?host={tmp_path}")
    assert away.returncode == 1 and "redgrid db up" in away.stderr
    assert not (tmp_path / "x.dump").exists() and not (tmp_path / "x.dump.partial").exists()


def test_the_urls_libpq_parameters_reach_pg_dump(settings: Settings) -> None:
    """pg_dump and pg_restore get the URL's parameters as libpq's variables: all of them,
    not only host, port, user, password and database (`sslmode` must not be lost)."""
    command = [_tool("pg_dump"), "--schema-only", "--table=zones"]
    plain = subprocess.run(command, env=_environment(settings.database_url),
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    # The primary is not read-only: libpq, told so through PGTARGETSESSIONATTRS, refuses it.
    told = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env=_environment(settings.database_url
                                           + "&target_session_attrs=read-only"))
    assert told.returncode != 0 and "read-only" in told.stderr
