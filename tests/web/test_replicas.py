"""Reads on a hot standby of the embedded cluster (pg_basebackup, streaming replication, on
Unix sockets): map, tile and analytics reads go to it, ticket reads and writes to the
primary; a lagging replica or one that stops hands its reads back to the primary."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from db.database import Database
from db.embedded import ReplicaCluster
from db.replica import ReadRoute, ReplicaHealth
from tests.conftest import TEST_DB, Minter, _free_port
from web.app import create_app
from web.settings import Settings

ZONES = {"query": "{ zones { code } }"}
TILE = "/tiles/compounds/14/13592/6494.mvt"
CREATE = """mutation($key: String) { createTicket(idempotencyKey: $key, input: {
  point: {lon: 118.657, lat: 34.918}, itemCode: "P01", description: "楼道灯不亮",
  channel: ONLINE}) { ticket { code } errors { code } } }"""


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture(scope="module")
def standby(settings: Settings) -> Iterator[ReplicaCluster]:
    root = settings.data_dir / f"test-replica-{os.getpid()}"
    cluster = ReplicaCluster(root, settings.cluster)
    assert cluster.init() and cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def served(settings: Settings, standby: ReplicaCluster) -> Iterator[tuple[Starlette, str]]:
    app = create_app(replace(settings, replica_url=standby.url(TEST_DB), replica_max_lag_s=1.0))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, "the server did not start")
    try:
        wait_for(lambda: app.state.replica.health.up, 10, "the replica never came up")
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Statements:
    """Counts the statements a pool runs, apart from the replica's health checks and the
    pool's own connection checks (empty statements)."""

    def __init__(self, *pools: Any) -> None:
        self.count = 0
        for pool in pools:
            pool.observers.append(self._seen)

    def _seen(self, query: str) -> None:
        if query.strip() and "pg_is_in_recovery" not in query \
                and "pg_current_wal_lsn" not in query:
            self.count += 1

    def during(self, action: Any) -> int:
        before = self.count
        action()
        return self.count - before


def test_map_reads_go_to_the_replica_and_ticket_reads_to_the_primary(
        served: tuple[Starlette, str], token: Minter) -> None:
    app, url = served
    on_replica = Statements(app.state.replica.db, app.state.replica.tile_db)
    on_primary = Statements(app.state.db)
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='replica-county')}"}

    def zones() -> None:
        assert len(httpx.post(f"{url}/graphql", json=ZONES).json()["data"]["zones"]) == 5

    assert on_replica.during(zones) >= 1 and on_primary.during(zones) == 0
    assert on_replica.during(lambda: httpx.get(f"{url}{TILE}").raise_for_status()) >= 1
    resident = {"Authorization": f"Bearer {token('RESIDENT', sub='replica-resident')}"}
    created = httpx.post(f"{url}/graphql", headers=resident,
                         json={"query": CREATE, "variables": {"key": "replica-1"}}).json()
    code = created["data"]["createTicket"]["ticket"]["code"]
    # Read your writes: at once, from the primary, never a replica that has not replayed it.
    read = {"query": "query($c: String!) { ticket(code: $c) { code } }", "variables": {"c": code}}
    answers: list[Any] = []
    assert on_replica.during(lambda: answers.append(
        httpx.post(f"{url}/graphql", headers=county, json=read).json())) == 0
    assert answers[0]["data"]["ticket"] == {"code": code}
    scraped = {s.name: s.value for f in text_string_to_metric_families(
        httpx.get(f"{url}/metrics").text) for s in f.samples}
    assert scraped["redgrid_replica_up"] == 1 and scraped["redgrid_replica_lag_seconds"] < 1


def test_a_lagging_replica_hands_its_reads_to_the_primary(
        served: tuple[Starlette, str], standby: ReplicaCluster, token: Minter) -> None:
    app, url = served
    health = app.state.replica.health
    on_replica = Statements(app.state.replica.db)
    resident = {"Authorization": f"Bearer {token('RESIDENT', sub='replica-lag')}"}
    with psycopg.connect(standby.conninfo(TEST_DB), autocommit=True) as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            httpx.post(f"{url}/graphql", headers=resident,
                       json={"query": CREATE, "variables": {"key": "replica-lag-1"}})
            wait_for(lambda: not health.up, 10, "the paused replica was never found behind")
            assert health.lag_s > 1.0
            zones = httpx.post(f"{url}/graphql", json=ZONES).json()
            assert len(zones["data"]["zones"]) == 5
            assert on_replica.count == 0
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")
    wait_for(lambda: health.up, 10, "the replica did not come back after catching up")
    httpx.post(f"{url}/graphql", json=ZONES).raise_for_status()
    assert on_replica.count >= 1


def test_the_replica_going_away_mid_load(served: tuple[Starlette, str],
                                         standby: ReplicaCluster) -> None:
    app, url = served
    on_primary = Statements(app.state.db, app.state.tile_db)
    stop = threading.Event()
    outcomes: list[tuple[float, str]] = []

    def load(path: str) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set():
                if path == "/graphql":
                    answer = client.post(path, json=ZONES)
                    errors = answer.json().get("errors")
                    outcome = errors[0]["extensions"]["code"] if errors else "ok"
                else:
                    answer = client.get(path)
                    outcome = "ok" if answer.status_code == 200 else str(answer.status_code)
                outcomes.append((time.monotonic(), outcome))

    clients = [threading.Thread(target=load, args=(p,)) for p in ("/graphql", "/graphql",
                                                                 TILE, TILE)]
    for c in clients:
        c.start()
    try:
        time.sleep(1.0)
        stopped_at = time.monotonic()
        standby.stop()
        time.sleep(2.0)
        # read before the standby starts again: the health check finds it back within a second
        replica_down = not app.state.replica.health.up
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=15)
        standby.start()
    before = [o for t, o in outcomes if t < stopped_at]
    after = [o for t, o in outcomes if t >= stopped_at + 1.0]
    failed = [o for t, o in outcomes if o != "ok"]
    assert before and set(before) == {"ok"}
    assert len(after) > 20 and set(after) == {"ok"}, after  # all on the primary by now
    # At most the requests in flight when the replica went, each a retryable fault.
    assert set(failed) <= {"UNAVAILABLE", "503"} and len(failed) <= len(clients), failed
    assert on_primary.count > 0 and replica_down
    wait_for(lambda: app.state.replica.health.up, 15, "the restarted replica was not used again")


async def test_a_statement_timeout_on_the_replica_leaves_it_serving(
        conninfo: str, standby: ReplicaCluster) -> None:
    """A read cancelled by its statement timeout is the read's failure: the replica keeps its
    reads, and no pool is checked as if the database had gone."""
    primary = Database(conninfo, min_size=1, max_size=2)
    replica = Database(standby.conninfo(TEST_DB), min_size=1, max_size=2,
                       statement_timeout_ms=100)
    health = ReplicaHealth(primary, replica, max_lag_s=5.0)
    await primary.open()
    await replica.open()
    try:
        assert await health.check()
        route = ReadRoute(primary, replica, health)
        with pytest.raises(psycopg.errors.QueryCanceled):
            async with route.connection() as conn:
                await conn.execute("SELECT pg_sleep(2)")
        assert health.up and not replica.reach.away
        async with route.connection() as conn:
            assert await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone() == (True,)
    finally:
        await replica.close()
        await primary.close()
