"""The runtime database handle: a psycopg 3 connection pool.

Reads run on autocommit connections (one round trip each, no BEGIN/ROLLBACK around them);
writes open an explicit transaction. Rows come back as named tuples.

Faults: while the database looks away (a connection broke, or the pool failed to connect,
within the last `SUSPECT_S` seconds) a request waits at most `acquire_timeout_s` for a
connection (then `PoolTimeout`), so it fails fast instead of hanging; otherwise a busy pool is
waited for up to `busy_timeout_s`, so a burst of requests queues rather than being refused.
Connections are not checked on every checkout (a round trip each); instead, the first
connection found broken makes the pool check all its idle ones in the background, so after a
database restart the dead ones are replaced at once rather than failing one request each.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, AsyncCursor, OperationalError
from psycopg.errors import QueryCanceled
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout, pool_async
from psycopg_pool.base import AttemptWithBackoff

log = logging.getLogger("redgrid.database")


class SteadyReconnect(AttemptWithBackoff):
    """psycopg_pool retries a failed connection attempt after 1, 2, 4, 8 … seconds, so after an
    outage of a few seconds the pools come back seconds after the database does, and requests
    meanwhile fail. RedGrid's pools try again every half second instead (a refused connection
    costs the database nothing), so they recover within about that of the database's return."""

    INITIAL_DELAY = 0.5
    DELAY_BACKOFF = 1.0


# The pool module builds its attempts from this name (psycopg_pool 3.3, pinned in the lock).
setattr(pool_async, "AttemptWithBackoff", SteadyReconnect)  # noqa: B010 - a module's class
# The pools of this process that are open (a broken connection in one checks them all).
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()
# How long after a broken connection or a failed connect the database counts as away.
SUSPECT_S = 10.0
# What a caller is told when the database cannot be reached: retry shortly.
UNREACHABLE = (PoolTimeout, OperationalError)

Observer = Callable[[str], None]


class Database:
    """A pool of connections to one PostGIS database."""

    def __init__(self, conninfo: str, *, min_size: int = 2, max_size: int = 20,
                 statement_timeout_ms: int = 0, session: dict[str, str] | None = None,
                 acquire_timeout_s: float = 2.0, busy_timeout_s: float = 30.0,
                 check: bool = False) -> None:
        """Args:
            statement_timeout_ms: PostgreSQL cancels any statement running longer (0: never).
            session: further PostgreSQL settings for every connection of the pool.
            acquire_timeout_s: how long a request waits for a connection while the database
                looks away; `busy_timeout_s`, while it does not.
            check: check each connection as it is handed out (one round trip), replacing a
                dead one; for a replica, whose loss must be seen before a query is sent.
        """
        self.observers: list[Observer] = []
        self._checking: asyncio.Task[None] | None = None
        self.acquire_timeout_s = acquire_timeout_s
        self.busy_timeout_s = busy_timeout_s
        self._connect_errors = 0
        self._suspect_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        observers = self.observers

        class ObservedCursor(AsyncCursor[Any]):
            async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                for observe in observers:
                    observe(str(query))
                return await super().execute(query, params, **kwargs)

        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": namedtuple_row,
                                  "cursor_factory": ObservedCursor, "prepare_threshold": 1,
                                  "connect_timeout": max(2, round(acquire_timeout_s))}
        settings = dict(session or {})
        if statement_timeout_ms > 0:
            settings["statement_timeout"] = str(int(statement_timeout_ms))
        if settings:
            kwargs["options"] = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo, min_size=min_size, max_size=max_size, open=False, kwargs=kwargs,
            timeout=busy_timeout_s,
            check=AsyncConnectionPool.check_connection if check else None)

    async def open(self, wait: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        _OPEN.add(self)
        await self.pool.open(wait=wait, timeout=30)

    async def close(self) -> None:
        _OPEN.discard(self)
        if self._checking is not None:
            await self._checking
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """An autocommit connection for reads."""
        try:
            async with self.pool.connection(timeout=self._wait_s()) as conn:
                yield conn
        except OperationalError as exc:
            self._broken(exc)
            raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection inside a transaction that commits on success, rolls back on error."""
        try:
            async with self.pool.connection(timeout=self._wait_s()) as conn, \
                    conn.transaction():
                yield conn
        except OperationalError as exc:
            self._broken(exc)
            raise

    async def ping(self) -> bool:
        """Whether the database answers now (for readiness)."""
        try:
            async with self.connection() as conn:
                await conn.execute("SELECT 1", prepare=False)
            return True
        except (*UNREACHABLE, OSError):
            return False

    def _wait_s(self) -> float:
        """How long a request may wait for a connection now: briefly while the database looks
        away (a connection broke, or connecting failed, in the last SUSPECT_S seconds)."""
        errors = self.pool.get_stats().get("connections_errors", 0)
        if errors > self._connect_errors:
            self._connect_errors = errors
            self._suspect_until = time.monotonic() + SUSPECT_S
        return self.acquire_timeout_s if time.monotonic() < self._suspect_until \
            else self.busy_timeout_s

    def _broken(self, exc: OperationalError) -> None:
        # A cancelled statement is the statement timeout, not a lost connection; a pool that
        # gave no connection in time is busy (or already known to be away).
        if isinstance(exc, QueryCanceled | PoolTimeout) or self.pool.closed:
            return
        log.warning("database connection lost (%s); checking every pool's connections",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        # A restart kills the idle connections of every pool of the process (GraphQL, tiles,
        # listeners' neighbours): check them all now, not one failed request per pool later.
        for database in list(_OPEN):
            database._suspect()

    def _suspect(self) -> None:
        """Marks the database away for SUSPECT_S and checks this pool's idle connections, on
        the event loop the pool runs on (a test process may run several)."""
        self._suspect_until = time.monotonic() + SUSPECT_S
        loop = self._loop
        if loop is None or loop.is_closed() or self.pool.closed:
            return

        def check() -> None:
            if not self.pool.closed and (self._checking is None or self._checking.done()):
                self._checking = loop.create_task(self.pool.check())

        try:
            if asyncio.get_running_loop() is loop:
                check()
                return
        except RuntimeError:
            pass
        loop.call_soon_threadsafe(check)
