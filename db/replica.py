"""Reads served by a hot standby (streaming replication), with the primary as fallback.

A `ReadRoute` hands out connections for reads that may be a little behind: the replica's
while `ReplicaHealth` finds it up and at most `max_lag_s` behind, else the primary's. Writes
(`transaction()`) always go to the primary. The health check runs every `interval_s`: the
replica is caught up when it has replayed the primary's current WAL position; otherwise its
lag is at most the time since the previous check when it has replayed what the primary had
then, else the time since the last transaction it replayed. A replica that cannot hand out a
connection within `FALLBACK_WAIT_S` (its pool checks each one first) is marked down at once,
and that read goes to the primary; one whose connection breaks during a statement makes that
statement fail as UNAVAILABLE (retryable) and is marked down too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, OperationalError

from db.database import UNREACHABLE, Database

log = logging.getLogger("redgrid.replica")
FALLBACK_WAIT_S = 0.5
CHECK_TIMEOUT_S = 1.0

_PRIMARY = "SELECT pg_current_wal_lsn()::text AS lsn"
_REPLICA = """
SELECT pg_is_in_recovery() AS standby,
       coalesce(pg_last_wal_replay_lsn() >= %(lsn)s::pg_lsn, false) AS caught_up,
       coalesce(pg_last_wal_replay_lsn() >= %(before)s::pg_lsn, false) AS caught_up_before,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS behind_s
"""


class ReplicaHealth:
    """Whether the replica may serve reads now: reachable, a standby, and close behind."""

    def __init__(self, primary: Database, replica: Database, max_lag_s: float,
                 interval_s: float = 0.5) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_s = max_lag_s
        self.interval_s = interval_s
        self.up = False
        self.lag_s: float = math.inf
        self._task: asyncio.Task[None] | None = None
        # The primary's WAL position at the previous check, and when it was read.
        self._before: tuple[str, float] | None = None

    async def check(self) -> bool:
        """Measures the replica once; whether it may serve reads."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                async with self.primary.connection() as conn:
                    primary = await (await conn.execute(_PRIMARY, prepare=False)).fetchone()
                assert primary is not None
                now = time.monotonic()
                before, before_at = self._before or (primary.lsn, now)
                async with self.replica.connection() as conn:
                    row = await (await conn.execute(_REPLICA, {
                        "lsn": primary.lsn, "before": before}, prepare=False)).fetchone()
        except (*UNREACHABLE, OSError, TimeoutError):
            self._set(False, math.inf, "unreachable")
            return False
        assert row is not None
        self._before = (primary.lsn, now)
        # Replication is asynchronous, so a busy primary is always a little ahead: a replica
        # that has replayed what the primary had written at the previous check is at most
        # that long behind. Otherwise, the time since the last transaction it replayed.
        if row.caught_up:
            lag = 0.0
        elif row.caught_up_before:
            lag = now - before_at
        else:
            lag = math.inf if row.behind_s is None else row.behind_s
        self._set(bool(row.standby) and lag <= self.max_lag_s, lag,
                  "not a standby" if not row.standby else f"{lag:.1f} s behind")
        return self.up

    def mark_down(self, why: str) -> None:
        self._set(False, math.inf, why)

    def _set(self, up: bool, lag: float, why: str) -> None:
        if up != self.up:
            if up:
                log.info("replica back: reads go to it again")
            else:
                log.warning("replica %s: reads go to the primary", why)
        self.up, self.lag_s = up, lag

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="redgrid-replica-health")

    async def _loop(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class ReadRoute:
    """Connections for reads that may lag a little (maps, tiles, analytics): the replica's
    while it is healthy, else the primary's. Anything else is the primary's."""

    def __init__(self, primary: Database, replica: Database, health: ReplicaHealth) -> None:
        self.primary = primary
        self.replica = replica
        self.health = health

    @asynccontextmanager
    async def connection(self, *, generic_plans: bool = False,
                         ) -> AsyncIterator[AsyncConnection[Any]]:
        # The replica's connections plan as it decides; `generic_plans` is the primary's.
        conn = None
        if self.health.up:
            try:
                conn = await self.replica.pool.getconn(timeout=FALLBACK_WAIT_S)
            except UNREACHABLE:
                self.health.mark_down("gave no connection")
        if conn is None:
            async with self.primary.connection(generic_plans=generic_plans) as conn:
                yield conn
            return
        try:
            yield conn
        except OperationalError as exc:
            if conn.broken:  # not a statement timeout or a lock wait: the connection went
                self.health.mark_down("lost a connection")
                self.replica._broken(exc)
            raise
        finally:
            await self.replica.pool.putconn(conn)

    def transaction(self) -> Any:
        return self.primary.transaction()

    def __getattr__(self, name: str) -> Any:  # ping, pool, observers: the primary's
        return getattr(self.primary, name)


class Replica:
    """The replica's pools (GraphQL reads, tiles), their health check and their routes."""

    def __init__(self, conninfo: str, primary: Database, tile_primary: Database, *,
                 max_lag_s: float, pool_size: int, statement_timeout_ms: int,
                 tile_session: dict[str, str]) -> None:
        pools: dict[str, Any] = {"min_size": 1, "max_size": pool_size, "check": True,
                                 "statement_timeout_ms": statement_timeout_ms,
                                 "acquire_timeout_s": FALLBACK_WAIT_S}
        self.db = Database(conninfo, **pools)
        self.tile_db = Database(conninfo, session=tile_session, **pools)
        self.health = ReplicaHealth(primary, self.db, max_lag_s)
        self.reads = ReadRoute(primary, self.db, self.health)
        self.tiles = ReadRoute(tile_primary, self.tile_db, self.health)

    async def open(self) -> None:
        """Opens the pools without waiting (the replica may be down) and checks it once."""
        await self.db.open(wait=False)
        await self.tile_db.open(wait=False)
        await self.health.check()
        self.health.start()

    async def close(self) -> None:
        await self.health.stop()
        await self.tile_db.close()
        await self.db.close()
