"""The runtime database handle: a psycopg 3 connection pool.

Reads run on autocommit connections (one round trip each, no BEGIN/ROLLBACK around them);
writes open an explicit transaction. Rows come back as named tuples.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool

Observer = Callable[[str], None]


class Database:
    """A pool of connections to one PostGIS database."""

    def __init__(self, conninfo: str, *, min_size: int = 2, max_size: int = 20,
                 statement_timeout_ms: int = 0, session: dict[str, str] | None = None) -> None:
        """Args:
            statement_timeout_ms: PostgreSQL cancels any statement running longer (0: never).
            session: further PostgreSQL settings for every connection of the pool.
        """
        self.observers: list[Observer] = []
        observers = self.observers

        class ObservedCursor(AsyncCursor[Any]):
            async def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                for observe in observers:
                    observe(str(query))
                return await super().execute(query, params, **kwargs)

        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": namedtuple_row,
                                  "cursor_factory": ObservedCursor, "prepare_threshold": 1}
        settings = dict(session or {})
        if statement_timeout_ms > 0:
            settings["statement_timeout"] = str(int(statement_timeout_ms))
        if settings:
            kwargs["options"] = " ".join(f"-c {k}={v}" for k, v in settings.items())
        self.pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo, min_size=min_size, max_size=max_size, open=False, kwargs=kwargs)

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """An autocommit connection for reads."""
        async with self.pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection inside a transaction that commits on success, rolls back on error."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn
