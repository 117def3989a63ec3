"""Counts for operators' monitoring (`/metrics`): tickets by status and the notification
outbox's backlog, in one cheap statement.

Tickets by status is a count over the whole table (about 0.1 s at a million tickets), so the
caller caches it for a few seconds; the outbox figures read only undelivered notifications,
through the partial index `ix_notifications_pending`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from db.vocabulary import TICKET_STATUSES

_COUNTS = """
SELECT (SELECT coalesce(jsonb_object_agg(status, n), '{}'::jsonb)
          FROM (SELECT status, count(*) AS n FROM tickets GROUP BY status) s) AS by_status,
       count(*) AS pending,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_s,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS failing,
       count(*) FILTER (WHERE attempts >= %(max_attempts)s) AS given_up
  FROM notifications WHERE delivered_at IS NULL
"""


@dataclass(frozen=True)
class OperationCounts:
    """Tickets by status (every status, 0 where none) and the outbox's backlog."""

    tickets: dict[str, int]
    # Notifications not yet delivered, and the age of the oldest of them (0 with none).
    outbox_pending: int
    outbox_oldest_s: float
    # Undelivered notifications whose last webhook attempt failed, and those given up on.
    webhook_failing: int
    webhook_given_up: int


async def operation_counts(conn: AsyncConnection[Any], max_attempts: int) -> OperationCounts:
    row = await (await conn.execute(_COUNTS, {"max_attempts": max_attempts})).fetchone()
    assert row is not None
    found = row.by_status  # psycopg reads jsonb as a dict
    return OperationCounts(
        tickets={status: int(found.get(status, 0)) for status in TICKET_STATUSES},
        outbox_pending=row.pending, outbox_oldest_s=row.oldest_s,
        webhook_failing=row.failing, webhook_given_up=row.given_up)
