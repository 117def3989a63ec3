"""The notification outbox: what units are told about their tickets, and its delivery state.

Rows are written idempotently (`UNIQUE (unit_code, dedupe_key)` with ON CONFLICT DO NOTHING),
so every server process may run the writer; delivery claims rows with SKIP LOCKED and a lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES

OPEN = status_list(OPEN_STATUSES)  # as in ix_tickets_open_due's predicate

_TICKET_JSON = """jsonb_build_object(
    'code', t.code, 'status', t.status, 'level', t.level, 'itemCode', t.item_code,
    'unitCode', t.unit_code, 'cellCode', t.cell_code, 'communityCode', t.community_code,
    'createdAt', t.created_at, 'dueAt', t.due_at, 'version', t.version,
    'lon', ST_X(t.geom), 'lat', ST_Y(t.geom))"""

# The lead unit and the cooperating units of a ticket `t`.
_UNITS = """CROSS JOIN LATERAL (
    SELECT t.unit_code WHERE t.unit_code IS NOT NULL
    UNION SELECT tu.unit_code FROM ticket_units tu
          WHERE tu.ticket_id = t.id AND tu.role = 'COOPERATING') u (unit_code)"""

# 80 % of the time to the deadline has passed on an open ticket that is not overdue yet.
_DUE_SOON = f"""
INSERT INTO notifications (unit_code, ticket_id, kind, dedupe_key, payload, created_at,
                           next_attempt_at)
SELECT u.unit_code, t.id, 'DUE_SOON',
       'DUE_SOON:' || t.code || ':' || to_char(t.due_at AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS'),
       jsonb_build_object('kind', 'DUE_SOON', 'at', t.created_at + (t.due_at - t.created_at) * 0.8,
                          'ticket', {_TICKET_JSON}),
       %(now)s, %(now)s
FROM tickets t
{_UNITS}
WHERE t.status IN {OPEN} AND t.due_at > %(now)s
  AND t.created_at + (t.due_at - t.created_at) * 0.8 <= %(now)s
ORDER BY 1, 4
ON CONFLICT (unit_code, dedupe_key) DO NOTHING
"""


async def enqueue_reminders(conn: AsyncConnection[Any], now: datetime) -> int:
    """Writes the 80 %-to-deadline reminders due at `now` (idempotent, safe in several
    processes at once); returns how many were new. The notifications of ticket events need
    no pass: a trigger writes them in the event's own transaction (migration 0007)."""
    return (await conn.execute(_DUE_SOON, {"now": now})).rowcount


# Claims pending notifications of units with an active webhook (`outbox.claim_due`).
CLAIM = """
WITH due AS (
    SELECT n.id, w.url, w.secret
    FROM notifications n
    JOIN unit_webhooks w ON w.unit_code = n.unit_code AND w.active
    WHERE n.delivered_at IS NULL AND n.next_attempt_at <= %(now)s AND n.attempts < %(max_attempts)s
    ORDER BY n.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF n SKIP LOCKED
)
UPDATE notifications n SET attempts = n.attempts + 1, next_attempt_at = %(lease_until)s
FROM due WHERE n.id = due.id
RETURNING n.id, n.unit_code, n.kind, n.payload, n.attempts, due.url, due.secret
"""


_UNIT = "SELECT code, name, kind FROM units WHERE code = %(code)s"

_SET_WEBHOOK = """
INSERT INTO unit_webhooks (unit_code, url, secret, active)
VALUES (%(unit_code)s, %(url)s, %(secret)s, %(active)s)
ON CONFLICT (unit_code) DO UPDATE SET url = excluded.url, secret = excluded.secret,
                                      active = excluded.active
RETURNING unit_code, url, active
"""

# Attempts recorded before the receiver's answer stopped being kept hold some of it after the
# status ("HTTP 500: <body>") or a protocol error's name: shown up to there only.
_BY_UNIT = r"""
SELECT n.id, n.unit_code, n.kind, n.payload, n.created_at, n.delivered_at, n.attempts,
       n.next_attempt_at,
       regexp_replace(n.last_error,
                      '(HTTP [0-9]{3}|RemoteProtocolError|LocalProtocolError|DecodingError)'
                      ':.*$', '\1') AS last_error,
       t.code AS ticket_code
FROM notifications n JOIN tickets t ON t.id = n.ticket_id
WHERE n.unit_code = %(unit_code)s
ORDER BY n.created_at DESC, n.id
LIMIT %(limit)s
"""


async def unit(conn: AsyncConnection[Any], code: str) -> Any | None:
    return await (await conn.execute(_UNIT, {"code": code})).fetchone()


async def set_webhook(conn: AsyncConnection[Any], *, unit_code: str, url: str, secret: str,
                      active: bool) -> Any:
    row = await (await conn.execute(_SET_WEBHOOK, {"unit_code": unit_code, "url": url,
                                                   "secret": secret, "active": active})).fetchone()
    assert row is not None
    return row


async def notifications_of_unit(conn: AsyncConnection[Any], unit_code: str,
                                limit: int) -> Sequence[Any]:
    """A unit's notifications, newest first."""
    return await (await conn.execute(_BY_UNIT, {"unit_code": unit_code, "limit": limit})).fetchall()


_EVENTS_AFTER = """
SELECT e.id, json_build_object(
    'eventId', e.id, 'ticketId', t.id, 'code', t.code, 'at', e.at, 'action', e.action,
    'fromStatus', e.from_status, 'toStatus', e.to_status, 'status', t.status, 'level', t.level,
    'cellCode', t.cell_code, 'communityCode', t.community_code, 'unitCode', t.unit_code,
    'lon', ST_X(t.geom), 'lat', ST_Y(t.geom))::text AS payload
FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
WHERE e.id > %(after)s
ORDER BY e.id
LIMIT %(limit)s
"""


_LAST_EVENT = "SELECT coalesce(max(id), 0) AS id FROM ticket_events"


async def last_event_id(conn: AsyncConnection[Any]) -> int:
    row = await (await conn.execute(_LAST_EVENT)).fetchone()
    return int(row.id) if row else 0


async def events_after(conn: AsyncConnection[Any], after_id: int, limit: int) -> list[Any]:
    """Ticket events after an id, as the NOTIFY trigger announces them (for catching up after
    a lost listening connection)."""
    return await (await conn.execute(_EVENTS_AFTER, {"after": after_id, "limit": limit})).fetchall()


async def compound_of_ticket(conn: AsyncConnection[Any], ticket_id: int) -> str | None:
    """The compound a ticket lies in (the event announcement names only its community)."""
    row = await (await conn.execute("SELECT compound_code FROM tickets WHERE id = %(id)s",
                                    {"id": ticket_id})).fetchone()
    return row.compound_code if row else None
