"""Test fixtures: a fresh database with the demo data in the embedded cluster, the app, a
live server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from starlette.testclient import TestClient

from db import migrate
from db.database import Database
from db.seed import seed_demo
from db.urls import psycopg_conninfo, server_url
from resolvers.actor import Role
from web.app import create_app
from web.auth import mint
from web.settings import Settings

TEST_DB = f"redgrid_test_{os.getpid()}"
DEMO_AS_OF = date(2024, 6, 30)


def pytest_configure(config: pytest.Config) -> None:
    # Unset, REDGRID_ENV means production, which mints no tokens: say so rather than guess.
    if os.environ.get("REDGRID_ENV") != "development":
        raise pytest.UsageError("the tests need a development box: run `make test`, or set "
                                "REDGRID_ENV=development (unset means production)")


def _admin(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(psycopg_conninfo(server_url(settings.database_url)), autocommit=True)


def create_database(base: Settings, name: str) -> Settings:
    with _admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.with_database(name)


def drop_database(base: Settings, name: str) -> None:
    with _admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings.from_env()


def demo_database(base: Settings, name: str, as_of: date = DEMO_AS_OF) -> Settings:
    """A fresh, migrated database `name` holding the demo as of `as_of`, with settings that run
    no background jobs (a server on it must not move tickets along while a test reads them)."""
    s = replace(create_database(base, name), job_interval_s=0.0, webhook_interval_s=0.0)
    migrate.upgrade(s.database_url)
    seed_demo(psycopg_conninfo(s.database_url), as_of=as_of)
    return s


@pytest.fixture(scope="session")
def settings(base_settings: Settings) -> Iterator[Settings]:
    """Settings pointed at a fresh, migrated database holding the demo data."""
    # A fixed as-of day keeps the suite deterministic (history 2023-01..2024-06).
    yield demo_database(base_settings, TEST_DB)
    drop_database(base_settings, TEST_DB)


@pytest.fixture(scope="session")
def conninfo(settings: Settings) -> str:
    return psycopg_conninfo(settings.database_url)


@pytest.fixture(scope="session")
def db(conninfo: str) -> Iterator[psycopg.Connection]:
    """A plain psycopg connection to the test database, for checking what the API says."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture()
async def pool(conninfo: str) -> AsyncIterator[Database]:
    """RedGrid's own async pool on the test database, for calling resolvers directly."""
    database = Database(conninfo, min_size=1, max_size=4)
    await database.open()
    yield database
    await database.close()


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def http_error(body: Any) -> dict[str, Any]:
    """The one error of an HTTP route's answer, checked to be in the envelope every route uses
    ({"errors": [{"message", "extensions": {"code", "field"?}}]}), flattened to code, field and
    message."""
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    assert isinstance(body, dict) and isinstance(body.get("errors"), list), body
    (error,) = body["errors"]
    assert set(error) == {"message", "extensions"} and error["message"], error
    assert set(error["extensions"]) <= {"code", "field", "retryable"}, error
    return {"code": error["extensions"]["code"], "field": error["extensions"].get("field"),
            "message": error["message"]}


class GraphQLClient:
    """Posts GraphQL to the app, as the public or as the holder of `token`."""

    def __init__(self, client: TestClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def as_(self, token: str) -> GraphQLClient:
        return GraphQLClient(self.client, token)

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.client.post("/graphql", json={"query": query, "variables": variables},
                                    headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self(query, variables)
        assert body.get("errors"), body
        first: dict[str, Any] = body["errors"][0]
        return first


@contextmanager
def observed(database: Database) -> Iterator[list[str]]:
    """The statements a pool of the app runs while inside, in order."""
    seen: list[str] = []
    database.observers.append(seen.append)
    try:
        yield seen
    finally:
        database.observers.remove(seen.append)


@pytest.fixture(scope="session")
def gql(client: TestClient) -> GraphQLClient:
    return GraphQLClient(client)


Minter = Callable[..., str]


@pytest.fixture(scope="session")
def token(settings: Settings) -> Minter:
    """Mints a token: token("GRID_WORKER", "371329001001", sub="w1")."""

    def make(role: str, *scopes: str, sub: str | None = None, ttl_s: int = 3600) -> str:
        return mint(settings.jwt_secret, subject=sub or f"{role.lower()}-test", role=Role(role),
                    scopes=list(scopes), ttl_s=ttl_s)

    return make


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port; yields its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


REDGRID = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "redgrid"
START_S = 90  # a worker imports the app and opens its pools; the machine is shared


@contextmanager
def serve_process(settings: Settings, log: Path, *args: str, **extra_env: str,
                  ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`redgrid serve` in its own process as operators run it (development, JSON logs with an
    access line per request into `log`), on a free loopback port; killed by its PID after."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDGRID_ENV": "development",
           "REDGRID_DATA_DIR": str(settings.data_dir), "REDGRID_JOB_INTERVAL": "0",
           "REDGRID_WEBHOOK_INTERVAL": "0", "REDGRID_LOG_FORMAT": "json",
           "REDGRID_ACCESS_LOG": "1", "REDGRID_POOL_SIZE": "4", **extra_env}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        process = subprocess.Popen([str(REDGRID), "serve", "--port", str(port), *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start: " + log.read_text()
            time.sleep(0.2)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def log_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON lines of a `serve_process` log."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="session")
def live_server(settings: Settings) -> Iterator[str]:
    """The app served on a free loopback port, for browsers and concurrency."""
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="session")
def county(gql: GraphQLClient, token: Minter) -> GraphQLClient:
    """The county office: sees every ticket."""
    return gql.as_(token("COUNTY_OFFICE", sub="county-test"))
