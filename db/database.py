"""The runtime database handle: a psycopg 3 connection pool.

Reads run on autocommit connections (one round trip each, no BEGIN/ROLLBACK around them);
writes open an explicit transaction. Rows come back as named tuples.

Faults: while the database looks away (a connection broke, or connecting to it failed, and
no connection has succeeded since, for at most `SUSPECT_S` seconds after the last such sign) a
request waits at most `acquire_timeout_s` (0.5 s) for a connection (then `PoolTimeout`), so it
fails well within 2 s with a retryable UNAVAILABLE instead of hanging; otherwise a busy pool is
waited for up to `busy_timeout_s`, so a burst of requests queues rather than being refused. A
request queued for a busy pool when the database goes away stops waiting within
`acquire_timeout_s` of that, too. While it is away, requests wait for it outside the pool's
queue (where a request that gave up would stay, with its error and stack, until a connection
comes: over a long outage, thousands). The first connection that succeeds ends the outage for
every pool of that database at once and wakes the requests waiting for it: they are then
queued as in any burst, not failed.
Connections are not checked on every checkout (a round trip each); instead, the first
connection found broken makes the pool check all its idle ones in the background, so after a
database restart the dead ones are replaced at once rather than failing one request each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection, AsyncCursor, OperationalError
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout, pool_async
from psycopg_pool.base import AttemptWithBackoff

log = logging.getLogger("redgrid.database")


class SteadyReconnect(AttemptWithBackoff):
    """psycopg_pool retries a failed connection attempt after 1, 2, 4, 8 … seconds, so after an
    outage of a few seconds the pools come back seconds after the database does, and requests
    meanwhile fail. RedGrid's pools try again every 0.2 s instead, however long the outage, so
    they recover within about that of the database's return. Each lost connection retries on
    its own, but while the database is away only one attempt per PROBE_S (of every pool of the
    process together) reaches it (`Reachability.may_attempt`): the others fail at once."""

    INITIAL_DELAY = 0.2
    DELAY_BACKOFF = 1.0


# The pool module builds its attempts from this name (psycopg_pool 3.3, pinned in the lock).
setattr(pool_async, "AttemptWithBackoff", SteadyReconnect)  # noqa: B010 - a module's class
# The pools of this process that are open (a broken connection in one checks them all).
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()
# How long after a broken connection or a failed connect the database counts as away, unless
# a connection succeeds before.
SUSPECT_S = 10.0
# While the database is away, at most one attempt to connect to it per this many seconds.
PROBE_S = 0.1
# What a caller is told when the database cannot be reached: retry shortly.
UNREACHABLE = (PoolTimeout, OperationalError)

Observer = Callable[[str], None]


@dataclass
class Reachability:
    """Whether one database (a conninfo) answers, as the pools of this process last saw it:
    away from a broken connection or a failed connect until a connection succeeds (or
    SUSPECT_S pass without another sign)."""

    away_until: float = 0.0
    refused_since: float | None = None
    attempted_at: float = 0.0
    # Requests waiting for the database to answer again (on whichever event loop they run).
    waiting: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def away(self) -> bool:
        return time.monotonic() < self.away_until

    def may_attempt(self) -> bool:
        """Whether a pool may try to connect now: always while the database answers, once per
        PROBE_S while it is away (a stopping or starting server forks a process to refuse each
        attempt)."""
        now = time.monotonic()
        if self.away and now - self.attempted_at < PROBE_S:
            return False
        self.attempted_at = now
        return True

    def suspect(self) -> None:
        """A connection broke: away until a connection succeeds (or SUSPECT_S pass)."""
        self.away_until = time.monotonic() + SUSPECT_S

    def refused(self, reason: str) -> None:
        """An attempt to connect failed."""
        if self.refused_since is None:
            self.refused_since = time.monotonic()
            log.warning("database unreachable (%s); requests fail fast with UNAVAILABLE "
                        "until it answers again", reason)
        self.suspect()

    def answered(self) -> None:
        """An attempt to connect succeeded: wakes the requests waiting for that."""
        if self.refused_since is not None:
            log.info("database answering again, %.1f s after the first refused connection",
                     time.monotonic() - self.refused_since)
        self.refused_since, self.away_until = None, 0.0
        waiting, self.waiting = self.waiting, []
        for answer in waiting:
            loop = answer.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, answer)

    async def answer(self, timeout: float) -> bool:
        """Waits at most `timeout` seconds for the database to answer; whether it did."""
        if not self.away:
            return True
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)
        try:
            await asyncio.wait((answer,), timeout=timeout)
        finally:
            if answer in self.waiting:
                self.waiting.remove(answer)
        return answer.done() or not self.away


# Per conninfo, shared by the pools of this process that connect there.
_REACH: dict[str, Reachability] = {}


class _QuietReconnects(logging.Filter):
    """psycopg_pool logs a warning for every failed attempt of every lost connection (two
    pools of 20, twice a second, for as long as an outage lasts); RedGrid logs the outage's
    start and end instead (`Reachability`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error connecting in")


logging.getLogger("psycopg.pool").addFilter(_QuietReconnects())


class Database:
    """A pool of connections to one PostGIS database."""

    def __init__(self, conninfo: str, *, max_size: int, min_size: int = 2,
                 statement_timeout_ms: int = 0, session: dict[str, str] | None = None,
                 acquire_timeout_s: float = 0.5, busy_timeout_s: float = 30.0,
                 check: bool = False, generic_plans_size: int = 0,
                 observers: list[Observer] | None = None) -> None:
        """Args:
            max_size: the most connections it opens (the server's REDGRID_POOL_SIZE).
            statement_timeout_ms: PostgreSQL cancels any statement running longer (0: never).
            session: further PostgreSQL settings for every connection of the pool.
            acquire_timeout_s: how long a request waits for a connection while the database
                looks away; `busy_timeout_s`, while it does not.
            check: check each connection as it is handed out (one round trip), replacing a
                dead one; for a replica, whose loss must be seen before a query is sent.
            generic_plans_size: the most connections of a pool beside this one whose prepared
                statements are planned once (`connection(generic_plans=True)`); 0: none, those
                connections come from this pool.
            observers: called with every statement run (tests); the pool beside this one
                shares this one's.
        """
        self.observers: list[Observer] = observers if observers is not None else []
        # Statements whose best plan does not depend on their parameters' values but whose
        # planning costs more than running them: a point's cell, compound, community, zone,
        # street and nearest clinics in one statement plans in 0.6 ms and runs in 0.2 ms.
        # PostgreSQL keeps planning them per run (PostGIS estimates a given point better than a
        # parameter), unless told to plan them once; told for every statement of a connection,
        # it would plan once statements whose best plan does depend on their values (a month
        # of tickets against all of them), so those keep this pool.
        self.generic: Database | None = None if generic_plans_size <= 0 else Database(
            conninfo, max_size=generic_plans_size, min_size=1,
            statement_timeout_ms=statement_timeout_ms,
            session={**(session or {}), **GENERIC_PLANS}, acquire_timeout_s=acquire_timeout_s,
            busy_timeout_s=busy_timeout_s, check=check, observers=self.observers)
        self._checking: asyncio.Task[None] | None = None
        self.slots = _Slots(max_size)
        self.acquire_timeout_s = acquire_timeout_s
        self.busy_timeout_s = busy_timeout_s
        self.reach = reach = _REACH.setdefault(conninfo, Reachability())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._returning: set[asyncio.Future[None]] = set()
        watching = self.observers

        class ObservedCursor(AsyncCursor[Any]):
            async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                for observe in watching:
                    observe(str(query))
                return await super().execute(query, params, **kwargs)

        class ObservedConnection(AsyncConnection[Any]):
            """Each attempt of the pool to connect tells whether the database answers; the
            statements `db.statements` runs on it go to the same observers."""

            observers = watching

            @classmethod
            async def connect(cls, conninfo: str = "", **kwargs: Any) -> Any:
                if not reach.may_attempt():
                    raise OperationalError("the database is unreachable (another attempt to "
                                           "connect is under way)")
                try:
                    conn = await super().connect(conninfo, **kwargs)
                except OperationalError as exc:
                    reach.refused(_first_line(exc))
                    raise
                reach.answered()
                return conn

        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": namedtuple_row,
                                  "cursor_factory": ObservedCursor, "prepare_threshold": 1,
                                  "connect_timeout": max(2, round(acquire_timeout_s))}
        settings = dict(session or {})
        if statement_timeout_ms > 0:
            settings["statement_timeout"] = str(int(statement_timeout_ms))
        if settings:
            # After the conninfo's own `options` (the URL's ?options=), which a keyword would
            # otherwise replace; where both set a parameter, the pool's comes last and holds.
            given = conninfo_to_dict(conninfo).get("options") or ""
            kwargs["options"] = " ".join([str(given), *(f"-c {k}={v}"
                                                        for k, v in settings.items())]).strip()
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo, min_size=min_size, max_size=max_size, open=False, kwargs=kwargs,
            timeout=busy_timeout_s, connection_class=ObservedConnection,
            check=AsyncConnectionPool.check_connection if check else None)

    async def open(self, wait: bool = True) -> None:
        self._loop = asyncio.get_running_loop()
        _OPEN.add(self)
        await self.pool.open(wait=wait, timeout=30)
        if self.generic is not None:
            await self.generic.open(wait=wait)

    async def close(self) -> None:
        if self.generic is not None:
            await self.generic.close()
        _OPEN.discard(self)
        if self._checking is not None:
            await self._checking
        await self.pool.close()

    def connection(self, *, generic_plans: bool = False) -> _Lease:
        """An autocommit connection for reads; with `generic_plans`, one whose prepared
        statements are planned once (see `generic_plans_size`), where there is such a pool."""
        if generic_plans and self.generic is not None:
            return _Lease(self.generic)
        return _Lease(self)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection inside a transaction that commits on success, rolls back on error."""
        async with _Lease(self) as conn, conn.transaction():
            yield conn

    def _lost(self, conn: AsyncConnection[Any], exc: OperationalError) -> None:
        if conn.broken and not self.pool.closed:
            self._broken(exc)

    async def ping(self) -> bool:
        """Whether the database answers now (for readiness)."""
        try:
            async with self.connection() as conn:
                await conn.execute("SELECT 1", prepare=False)
            return True
        except (*UNREACHABLE, OSError):
            return False

    async def _getconn(self, busy_timeout_s: float) -> AsyncConnection[Any]:
        """A connection: waited for at most `acquire_timeout_s` while the database looks
        away; otherwise as long as a busy pool takes (at most `busy_timeout_s`), unless the
        database goes away meanwhile (checked every `acquire_timeout_s`, keeping the request's
        place in the queue)."""
        if self._idle():  # no wait: none to watch
            try:
                return await self.pool.getconn(timeout=self.acquire_timeout_s)
            except PoolTimeout:  # another request (or the pool's check) took it first
                if self.reach.away:
                    raise
        if self.reach.away and not await self.reach.answer(self.acquire_timeout_s):
            raise PoolTimeout(f"the database did not answer within {self.acquire_timeout_s} s")
        waiting = asyncio.ensure_future(self.pool.getconn(timeout=busy_timeout_s))
        try:
            while not waiting.done() and not self.reach.away:
                await asyncio.wait((waiting,), timeout=self.acquire_timeout_s)
        except BaseException:  # the request was cancelled (its client left, a shutdown)
            self._abandon(waiting)
            raise
        if not waiting.done():
            self._abandon(waiting)
            raise PoolTimeout("the database went away while the request waited for a "
                              "connection")
        return waiting.result()

    def _idle(self) -> bool:
        return bool(self.pool.get_stats().get("pool_available", 0))

    def _abandon(self, waiting: asyncio.Future[AsyncConnection[Any]]) -> None:
        """Stops waiting for a connection; one handed over meanwhile goes back to the pool."""
        waiting.cancel()

        def put_back(done: asyncio.Future[AsyncConnection[Any]]) -> None:
            if not done.cancelled() and done.exception() is None:
                returning = asyncio.ensure_future(self.pool.putconn(done.result()))
                self._returning.add(returning)
                returning.add_done_callback(self._returning.discard)

        waiting.add_done_callback(put_back)

    def _broken(self, exc: OperationalError) -> None:
        log.warning("database connection lost (%s); checking every pool's connections",
                    _first_line(exc))
        self.reach.suspect()
        # A restart kills the idle connections of every pool of the process (GraphQL, tiles,
        # listeners' neighbours): check them all now, not one failed request per pool later.
        for database in list(_OPEN):
            database._check()

    def _check(self) -> None:
        """Checks this pool's idle connections in the background, on the event loop the pool
        runs on (a test process may run several)."""
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


class _Lease:
    """A pooled connection for a block (`Database.connection()`, `transaction()`): a slot
    taken first (see `_Slots`), the connection given back after the block, and the database
    marked suspect when the connection broke under it (a statement timeout or a lock wait
    leaves it working).

    A class rather than generator-based context managers: three nested ones (the connection,
    the pool's lease, the watch) cost each read three async generators and a commit that an
    autocommit connection never needs (about 3 % of a small answer's CPU). A connection left
    in a transaction or mid-statement is the pool's to roll back or discard on `putconn`.
    """

    __slots__ = ("conn", "db", "slotted")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: AsyncConnection[Any] | None = None
        self.slotted = False

    async def __aenter__(self) -> AsyncConnection[Any]:
        db = self.db
        started = time.monotonic()
        self.slotted = await db.slots.take(db.reach, db.acquire_timeout_s, db.busy_timeout_s)
        # What is left of the busy timeout for the pool (a slot's holder rarely waits there:
        # only for a connection held without a slot, or one the pool is still opening).
        left = max(db.acquire_timeout_s, db.busy_timeout_s - (time.monotonic() - started))
        try:
            self.conn = await db._getconn(left)  # noqa: SLF001 - the lease is the pool's client
        except BaseException:
            self._free()
            raise
        return self.conn

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: object) -> None:
        conn, self.conn = self.conn, None
        assert conn is not None
        try:
            if isinstance(exc, OperationalError):
                self.db._lost(conn, exc)  # noqa: SLF001
        finally:
            try:
                if conn.pgconn.transaction_status == TransactionStatus.IDLE:
                    await self.db.pool.putconn(conn)  # nothing to roll back: no server round trip
                else:
                    # Shielded: cancelled again while the pool rolls it back, the connection
                    # would be neither returned nor closed, and its slot free for a connection
                    # that is not there. (A task of its own: 13 us, so not for every request.)
                    await asyncio.shield(self.db.pool.putconn(conn))
            finally:
                self._free()

    def _free(self) -> None:
        if self.slotted:
            self.slotted = False
            self.db.slots.give()


class _Slots:
    """A pool's connections as slots, handed out first come, first served. A request that
    finds none free waits here on a future of its own, not in psycopg_pool's queue, where
    each waiter costs a task and a timer and `Database._getconn` adds another of each to
    watch the database (a ticket with its relations at 64 concurrent requests, on a pool of
    10: nearly every request waited). The wait is as `_getconn`'s: it ends with PoolTimeout
    once the database looks away (looked at every `acquire_timeout_s`) or after
    `busy_timeout_s`; while it looks away, no slot is waited for (the pool answers at once).
    """

    __slots__ = ("free", "waiting")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def take(self, reach: Reachability, acquire_timeout_s: float,
                   busy_timeout_s: float) -> bool:
        """Waits for a slot; False where none was taken (the database looks away)."""
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return True
        if reach.away:
            return False
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self.waiting.append(turn)
        deadline = loop.time() + busy_timeout_s
        timer: asyncio.TimerHandle | None = None

        def look() -> None:
            nonlocal timer
            if turn.done():
                return
            if reach.away:
                turn.set_exception(PoolTimeout("the database went away while the request "
                                               "waited for a connection"))
            elif loop.time() >= deadline:
                turn.set_exception(PoolTimeout(f"couldn't get a connection after "
                                               f"{busy_timeout_s:.2f} sec"))
            else:
                timer = loop.call_later(min(acquire_timeout_s, deadline - loop.time()), look)

        timer = loop.call_later(min(acquire_timeout_s, busy_timeout_s), look)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.give()  # handed a slot as it was cancelled: the next one's
            else:
                with contextlib.suppress(ValueError):
                    self.waiting.remove(turn)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return True

    def give(self) -> None:
        """A slot back: to the first request still waiting, else free."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1


# The session of connections whose prepared statements are planned once.
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan"}


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _resolve(answer: asyncio.Future[None]) -> None:
    if not answer.done():
        answer.set_result(None)
