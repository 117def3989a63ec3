"""Web Push subscriptions and the push outbox (migration 0016).

Push messages are written by a trigger with every unit notification, so they follow the
notifications' rules (dispatch, 80 % of the deadline, escalation) without a pass of their
own; delivery claims them with SKIP LOCKED and a lease, as the webhooks' delivery does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

_SUBSCRIBE = """
INSERT INTO push_subscriptions (endpoint, p256dh, auth, subject, role, ticket_key, scopes,
                                created_at, renewed_at)
VALUES (%(endpoint)s, %(p256dh)s, %(auth)s, %(subject)s, %(role)s, %(ticket_key)s,
        %(scopes)s, %(now)s, %(now)s)
ON CONFLICT (endpoint) DO UPDATE SET
    p256dh = excluded.p256dh, auth = excluded.auth, subject = excluded.subject,
    role = excluded.role, ticket_key = excluded.ticket_key, scopes = excluded.scopes,
    renewed_at = excluded.renewed_at
RETURNING id, endpoint, scopes, created_at, renewed_at
"""

_UNSUBSCRIBE = """
DELETE FROM push_subscriptions WHERE endpoint = %(endpoint)s AND subject = %(subject)s
RETURNING id
"""


async def subscribe(conn: AsyncConnection[Any], *, endpoint: str, p256dh: str, auth: str,
                    subject: str, role: str, ticket_key: str, scopes: Sequence[str],
                    now: datetime) -> Any:
    """Stores (or renews, for the same endpoint) a subscription; returns its row."""
    row = await (await conn.execute(_SUBSCRIBE, {
        "endpoint": endpoint, "p256dh": p256dh, "auth": auth, "subject": subject, "role": role,
        "ticket_key": ticket_key, "scopes": list(scopes), "now": now})).fetchone()
    assert row is not None
    return row


async def unsubscribe(conn: AsyncConnection[Any], *, endpoint: str, subject: str) -> bool:
    """Removes the caller's own subscription at `endpoint`; whether there was one."""
    cur = await conn.execute(_UNSUBSCRIBE, {"endpoint": endpoint, "subject": subject})
    return cur.rowcount > 0


# Claims pending push messages with their subscription and ticket (`outbox.claim_due`).
CLAIM = """
WITH due AS (
    SELECT m.id FROM push_messages m
    WHERE m.delivered_at IS NULL AND m.next_attempt_at <= %(now)s
      AND m.attempts < %(max_attempts)s
    ORDER BY m.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE push_messages m SET attempts = m.attempts + 1, next_attempt_at = %(lease_until)s
FROM due, push_subscriptions s, tickets t, demand_items i
WHERE m.id = due.id AND s.id = m.subscription_id AND t.id = m.ticket_id
  AND i.code = t.item_code
RETURNING m.id, m.kind, m.at, m.attempts, s.id AS subscription_id, s.endpoint, s.p256dh,
          s.auth, t.code AS ticket_code, t.level, i.name_zh AS item_name
"""


async def forget_subscription(conn: AsyncConnection[Any], subscription_id: int) -> None:
    """Deletes a subscription the push service no longer knows, and its messages."""
    await conn.execute("DELETE FROM push_subscriptions WHERE id = %(id)s",
                       {"id": subscription_id})
