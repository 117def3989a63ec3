"""The runtime pool: autocommit reads, session settings on every connection, requests that
fail fast while the database is away and queue again once it is back."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg_pool import PoolTimeout

from db.database import PROBE_S, Database, Reachability
from db.queries.tiles import TILE_SESSION
from db.urls import psycopg_conninfo, server_url
from tests.conftest import create_database, drop_database
from web.settings import Settings


async def test_the_urls_own_options_hold_beside_the_pools(conninfo: str) -> None:
    """A URL's ?options= (say a search_path or work_mem for this deployment) is kept: the
    pool's statement timeout is added to it, not put in its place."""
    db = Database(f"{conninfo} options='-c work_mem=7MB -c statement_timeout=9s'",
                  min_size=1, max_size=1, statement_timeout_ms=1234)
    await db.open()
    try:
        async with db.connection() as conn:
            memory = await (await conn.execute("SHOW work_mem")).fetchone()
            timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
            assert memory is not None and memory[0] == "7MB"
            assert timeout is not None and timeout[0] == "1234ms"  # the server's own bound
    finally:
        await db.close()


async def test_session_settings_hold_on_every_connection(conninfo: str) -> None:
    db = Database(conninfo, min_size=2, max_size=2, statement_timeout_ms=1234,
                  session=TILE_SESSION)
    await db.open()
    try:
        async with db.connection() as first, db.connection() as second:
            for conn in (first, second):
                mode = await (await conn.execute("SHOW plan_cache_mode")).fetchone()
                timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
                assert mode is not None and mode[0] == "force_generic_plan"
                assert timeout is not None and timeout[0] == "1234ms"
    finally:
        await db.close()


async def test_a_request_to_an_unreachable_database_fails_within_2_s(tmp_path: Path) -> None:
    db = Database(f"host={tmp_path} dbname=nowhere", min_size=1, max_size=2)
    await db.open(wait=False)
    try:
        await asyncio.sleep(0.3)  # the pool's first attempt to connect is refused meanwhile
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            async with db.connection():
                pass
        assert time.monotonic() - started < 2.0
        # Requests that gave up leave nothing behind in the pool's queue (over a long outage,
        # thousands, each holding its error and stack).
        db.acquire_timeout_s = 0.05
        for _ in range(20):
            with pytest.raises(PoolTimeout):
                async with db.connection():
                    pass
        assert db.pool.get_stats().get("requests_waiting", 0) == 0
    finally:
        await db.close()


def test_while_the_database_is_away_one_attempt_to_connect_per_probe_interval_reaches_it(
        ) -> None:
    reach = Reachability()
    assert reach.may_attempt() and reach.may_attempt()  # it answers: every pool connects
    reach.refused("refused")
    time.sleep(PROBE_S)
    tries = [reach.may_attempt() for _ in range(50)]  # 50 lost connections retrying at once
    assert tries.count(True) == 1
    time.sleep(PROBE_S)
    assert reach.may_attempt()
    reach.answered()
    assert reach.may_attempt() and reach.may_attempt()


@pytest.fixture
def away_database(base_settings: Settings) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """An empty database of its own and a switch for whether it accepts connections (off:
    connections refused and the open ones terminated, as a stopped server would)."""
    name = f"redgrid_test_away_{os.getpid()}"
    settings = create_database(base_settings, name)
    admin = psycopg.connect(psycopg_conninfo(server_url(base_settings.database_url)),
                            autocommit=True)

    def accepting(on: bool) -> None:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("true" if on else "false")))
        if not on:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (name,))

    try:
        yield psycopg_conninfo(settings.database_url), accepting
    finally:
        accepting(True)
        admin.close()
        drop_database(base_settings, name)


async def test_requests_queued_when_the_database_goes_away_fail_fast_and_after_its_return_a_busy_pool_is_waited_for(  # noqa: E501
        away_database: tuple[str, Callable[[bool], None]]) -> None:
    conninfo, accepting = away_database
    db = Database(conninfo, min_size=1, max_size=1, acquire_timeout_s=0.5)
    await db.open()

    async def hold(seconds: float) -> None:
        async with db.connection() as conn:
            await conn.execute("SELECT pg_sleep(%s)", (seconds,))

    try:
        # A request holds the only connection; a second one queues for the busy pool.
        holder = asyncio.create_task(hold(30))
        await asyncio.sleep(0.3)
        queued = asyncio.create_task(hold(0))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        accepting(False)
        with pytest.raises(psycopg.OperationalError):
            await holder
        with pytest.raises(PoolTimeout):
            await queued
        # Within the acquire timeout of the database going away, not the busy pool's 30 s.
        assert time.monotonic() - started < 5.0
        # Back: a request succeeds once the pool has reconnected ...
        accepting(True)
        deadline = time.monotonic() + 10
        while True:
            try:
                await hold(0)
                break
            except PoolTimeout:
                assert time.monotonic() < deadline, "no connection 10 s after the return"
        # ... and a burst is queued again rather than refused: a request waiting 1.5 s for
        # the busy pool (three acquire timeouts) is served.
        holder = asyncio.create_task(hold(1.5))
        await asyncio.sleep(0.1)
        await hold(0)
        await holder
    finally:
        await db.close()



async def test_generic_plan_connections_come_from_their_own_pool(conninfo: str) -> None:
    async def mode(conn: psycopg.AsyncConnection[Any]) -> str:
        row = await (await conn.execute("SHOW plan_cache_mode")).fetchone()
        return str(row[0])

    db = Database(conninfo, max_size=2, generic_plans_size=1)
    plain = Database(conninfo, max_size=2)
    await db.open()
    await plain.open()
    try:
        async with db.connection() as conn:
            assert await mode(conn) == "auto"  # a month's tickets still planned for the month
        async with db.connection(generic_plans=True) as conn:
            assert await mode(conn) == "force_generic_plan"
        async with db.transaction() as conn:
            assert await mode(conn) == "auto"
        async with plain.connection(generic_plans=True) as conn:  # no such pool: the main one
            assert await mode(conn) == "auto"
    finally:
        await db.close()
        await plain.close()


async def test_a_busy_pool_hands_its_connections_out_in_turn_without_queueing_in_psycopg_pool(
        conninfo: str) -> None:
    """Requests past the pool's size wait for a slot, first come first served; each gets a
    connection the moment one is given back, and psycopg_pool never queues them."""
    db = Database(conninfo, min_size=2, max_size=2)
    await db.open()
    order: list[int] = []
    release = asyncio.Event()

    async def request(n: int) -> None:
        async with db.connection() as conn:
            order.append(n)
            await (await conn.execute("SELECT 1")).fetchone()
            if n < 2:
                await release.wait()

    try:
        holders = [asyncio.create_task(request(n)) for n in range(2)]
        await asyncio.sleep(0.05)
        waiting = [asyncio.create_task(request(n)) for n in range(2, 8)]
        await asyncio.sleep(0.05)
        assert order == [0, 1] and len(db.slots.waiting) == 6
        release.set()
        await asyncio.gather(*holders, *waiting)
        assert order == list(range(8))
        assert db.pool.get_stats().get("requests_queued", 0) == 0
        assert db.slots.free == 2 and not db.slots.waiting
    finally:
        await db.close()


async def test_a_request_waiting_for_a_slot_gives_up_after_the_busy_timeout_or_when_cancelled(
        conninfo: str) -> None:
    db = Database(conninfo, min_size=1, max_size=1, busy_timeout_s=0.3)
    await db.open()
    try:
        async with db.connection():
            started = time.monotonic()
            with pytest.raises(PoolTimeout, match="after 0.30 sec"):
                async with db.connection():
                    pass
            assert 0.25 < time.monotonic() - started < 2.0
            cancelled = asyncio.create_task(db.connection().__aenter__())
            await asyncio.sleep(0.05)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            assert not db.slots.waiting  # neither left anything in the queue
        async with db.connection() as conn:  # and the slot came back
            assert await (await conn.execute("SELECT 2")).fetchone() == (2,)
        assert db.slots.free == 1
    finally:
        await db.close()


async def test_a_request_waits_at_most_the_busy_timeout_for_a_slot_and_a_connection_together(
        conninfo: str) -> None:
    """A slot's holder may still wait in the pool (for a connection held without a slot):
    the request behind it waits for the slot and then the pool within one busy timeout."""
    db = Database(conninfo, min_size=1, max_size=1, busy_timeout_s=0.4, acquire_timeout_s=0.05)
    await db.open()
    outside = await db.pool.getconn()  # the pool's only connection, held without a slot
    try:
        first = asyncio.create_task(db.connection().__aenter__())  # takes the slot, then waits
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            async with db.connection():
                pass
        assert time.monotonic() - started < 0.7  # the old wait was 0.4 for the slot + 0.4
        with pytest.raises(PoolTimeout):
            await first
    finally:
        await db.pool.putconn(outside)
        await db.close()


async def test_a_connection_left_in_a_transaction_comes_back_rolled_back_though_the_request_is_cancelled(  # noqa: E501
        conninfo: str) -> None:
    """Cancelled while the pool rolls its connection back, a request still returns it: the
    pool's only connection serves the next request, with nothing of the transaction left."""
    db = Database(conninfo, min_size=1, max_size=1, busy_timeout_s=1.0)
    await db.open()
    try:
        inside = asyncio.Event()

        async def request() -> None:
            async with db.connection() as conn:
                await conn.execute("BEGIN")
                await conn.execute("CREATE TEMP TABLE left_behind (n int)")
                inside.set()

        task = asyncio.create_task(request())
        await inside.wait()
        task.cancel()  # lands while the connection's ROLLBACK is on its way
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.connection() as conn:
            assert conn.pgconn.transaction_status == TransactionStatus.IDLE
            row = await (await conn.execute(
                "SELECT to_regclass('pg_temp.left_behind')::text")).fetchone()
            assert row is not None and row[0] is None
        assert db.slots.free == 1
    finally:
        await db.close()
