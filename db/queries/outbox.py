"""Delivery of an outbox row (unit notifications, push messages): the same claim with a lease
and the same two updates of its delivery state, for every outbox table."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection, sql

Outbox = Literal["notifications", "push_messages"]

_DELIVERED = sql.SQL("""
UPDATE {table} SET delivered_at = %(at)s, last_error = NULL
WHERE id = %(id)s AND delivered_at IS NULL
""")

_FAILED = sql.SQL("""
UPDATE {table} SET next_attempt_at = %(next_at)s, last_error = %(error)s
WHERE id = %(id)s AND delivered_at IS NULL
""")


async def claim_due(conn: AsyncConnection[Any], claim: str, *, now: datetime,
                    lease_until: datetime, limit: int, max_attempts: int) -> list[Any]:
    """Claims up to `limit` pending rows with `claim` (an outbox's own CLAIM statement: its
    rows due at `now`, locked with SKIP LOCKED, joined with where they go).

    Counts the attempt and leases the row until `lease_until`, so no other process sends it
    meanwhile; a process that dies mid-send leaves it to be retried after the lease.
    """
    params = {"now": now, "lease_until": lease_until, "limit": limit,
              "max_attempts": max_attempts}
    return await (await conn.execute(claim, params)).fetchall()


async def mark_delivered(conn: AsyncConnection[Any], table: Outbox, row_id: Any,
                         at: datetime) -> None:
    await conn.execute(_DELIVERED.format(table=sql.Identifier(table)), {"id": row_id, "at": at})


async def mark_failed(conn: AsyncConnection[Any], table: Outbox, row_id: Any, *, error: str,
                      next_at: datetime) -> None:
    """Records a failed attempt and when to try again (the lease it held ends then)."""
    await conn.execute(_FAILED.format(table=sql.Identifier(table)),
                       {"id": row_id, "error": error, "next_at": next_at})
