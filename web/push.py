"""Web Push 推送 to field workers' phones: encrypted messages with a VAPID signature.

Push messages are written with the unit notifications (a trigger: migration 0016), one per
subscription whose scope covers the ticket. A pass, run by the webhook worker after its own,
claims them with SKIP LOCKED and a lease and POSTs each to its subscription's push service:
the payload encrypted for the phone (RFC 8291, `aes128gcm`, pywebpush), signed for the push
service with a VAPID JWT (RFC 8292, py-vapid), with a TTL and an urgency. The push service
answering 404 or 410 means the phone dropped the subscription: it is deleted. Anything else
that is not 2xx is retried with the webhooks' backoff; delivery is at least once, and the
message's `id` in the payload stays the same across retries (the app shows a notification
per ticket and kind, so a repeat replaces rather than adds).

The endpoint is the phone's push service, chosen by its browser: it is checked and pinned
like a webhook URL (no internal addresses outside development).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from pywebpush import WebPusher

from db.database import Database
from db.queries import outbox
from db.queries import push as queries
from web.webhooks import (
    LEASE,
    MAX_ATTEMPTS,
    Refused,
    Resolve,
    backoff,
    destination,
    failure,
    new_client,
    resolve_host,
)

if TYPE_CHECKING:
    from web.vapid import PushSender

BATCH = 50
MAX_PER_PASS = 500  # a pass's work is bounded; the rest waits for the next pass
TTL_S = 24 * 3600  # how long a push service keeps a message for a phone that is off
GONE = (404, 410)
# What happened, as the notification's title; escalations and reminders may wake the phone.
TITLES = {"DISPATCHED": "新派工单", "DUE_SOON": "工单即将到期", "ESCALATED": "工单已提级督办"}
URGENCY = {"DISPATCHED": "normal", "DUE_SOON": "high", "ESCALATED": "high"}

log = logging.getLogger("redgrid.push")


def payload_of(row: Any) -> bytes:
    """What the phone decrypts: the message id, what happened, the ticket's code and item and
    a link into the field app; nothing about the resident."""
    return orjson.dumps({
        "id": str(row.id), "kind": row.kind, "title": TITLES[row.kind],
        "body": f"{row.item_name} · {row.ticket_code}", "ticket": row.ticket_code,
        "item": row.item_name, "level": row.level, "at": row.at.isoformat(),
        "url": f"/field/#ticket={row.ticket_code}"}, option=orjson.OPT_SORT_KEYS)


def encrypted(row: Any) -> bytes:
    """The payload encrypted for the subscription's keys (RFC 8291, aes128gcm)."""
    pusher = WebPusher({"endpoint": row.endpoint, "keys": {"p256dh": row.p256dh,
                                                           "auth": row.auth}})
    body: bytes = pusher.encode(payload_of(row), "aes128gcm")["body"]
    return body


@dataclass(frozen=True)
class PushReport:
    delivered: int
    failed: int
    gone: int


async def _post(client: httpx.AsyncClient, sender: PushSender, row: Any, resolve: Resolve,
                allow_private: bool) -> int | str:
    """Sends one message; returns the push service's status, or why nothing was sent."""
    try:
        to = await destination(row.endpoint, resolve, allow_private=allow_private)
    except Refused as exc:
        return str(exc)
    headers = {"Host": to.host, "Connection": "close", "TTL": str(TTL_S),
               "Urgency": URGENCY[row.kind], "Content-Encoding": "aes128gcm",
               "Content-Type": "application/octet-stream",
               "Authorization": sender.authorization(row.endpoint)}
    try:
        body = encrypted(row)
        async with client.stream("POST", to.pinned_url, content=body, headers=headers,
                                 extensions=to.extensions) as response:
            return response.status_code
    except Exception as exc:  # any failure to send is this attempt's failure
        return failure(exc)


async def _record(db: Database, row: Any, outcome: int | str, now: datetime) -> str:
    """Records one attempt; returns `delivered`, `gone` or `failed`."""
    async with db.connection() as conn:
        if isinstance(outcome, int) and 200 <= outcome < 300:
            await outbox.mark_delivered(conn, "push_messages", row.id, now)
            return "delivered"
        if outcome in GONE:
            await queries.forget_subscription(conn, row.subscription_id)
            return "gone"
        error = f"HTTP {outcome}" if isinstance(outcome, int) else outcome
        if row.attempts >= MAX_ATTEMPTS:
            error = f"gave up after {row.attempts} attempts; last: {error}"
            log.warning("push message %s: %s", row.id, error)
        await outbox.mark_failed(conn, "push_messages", row.id, error=error,
                                 next_at=now + backoff(row.attempts))
        return "failed"


async def run_once(db: Database, sender: PushSender | None, now: datetime | None = None, *,
                   client: httpx.AsyncClient | None = None, resolve: Resolve = resolve_host,
                   allow_private: bool = False, limit: int = MAX_PER_PASS) -> PushReport:
    """One pass at `now` (an injectable clock): sends up to `limit` pending push messages.
    Without a VAPID key (push off) it sends nothing and leaves the messages as they are."""
    counts = {"delivered": 0, "failed": 0, "gone": 0}
    if sender is None:
        return PushReport(0, 0, 0)
    now = now or datetime.now(UTC)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(new_client())
        while limit > 0:
            async with db.transaction() as conn:
                rows = await outbox.claim_due(conn, queries.CLAIM, now=now,
                                              lease_until=now + LEASE, limit=min(BATCH, limit),
                                              max_attempts=MAX_ATTEMPTS)
            outcomes = await asyncio.gather(*(_post(client, sender, row, resolve, allow_private)
                                              for row in rows))
            for row, outcome in zip(rows, outcomes, strict=True):
                counts[await _record(db, row, outcome, now)] += 1
            limit -= len(rows)
            if len(rows) < BATCH:
                break
    report = PushReport(**counts)
    if report != PushReport(0, 0, 0):
        log.info("push: %s", report)
    return report


def worker_pass(db: Database, sender: PushSender, *,
                allow_private: bool) -> Callable[[httpx.AsyncClient], Awaitable[None]]:
    """The push pass the webhook worker runs after its own (`WebhookWorker(then=...)`)."""
    async def run(client: httpx.AsyncClient) -> None:
        await run_once(db, sender, client=client, allow_private=allow_private)

    return run
