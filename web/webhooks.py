"""Delivering unit notifications to their webhooks: signed POSTs, retried with backoff.

Each pass writes the notifications due (`enqueue_notifications`) and sends the pending ones.
A notification is claimed with SKIP LOCKED and leased, so several server processes never send
it at the same time; the receiver dedupes by `X-RedGrid-Delivery`, which stays the same across
retries (delivery is at least once: a process that dies after the POST but before recording
it leaves the row to be sent again when its lease ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from db.database import Database
from db.queries import notifications as queries
from web.tasks import cancel, running

BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(hours=1)
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)  # longer than a POST can take (TIMEOUT_S)
TIMEOUT_S = 10.0
BATCH = 50

log = logging.getLogger("redgrid.webhooks")


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s, … up to an hour."""
    return min(BASE_DELAY * 2 ** max(0, attempts - 1), MAX_DELAY)


def sign(secret: str, body: bytes) -> str:
    """The `X-RedGrid-Signature` value: `sha256=` + the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(row: Any) -> bytes:
    """The POSTed JSON, `{id, kind, ticket, at}` (plus the event id where there is one); the
    same bytes on every retry."""
    payload = dict(row.payload)
    payload["id"] = str(row.id)
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class PassReport:
    enqueued: int
    delivered: int
    failed: int
    watermark: int


async def refused_destination(url: str) -> str | None:
    """Why a webhook URL must not be called from here, or None: its host resolves to a
    loopback, private, link-local, multicast or reserved address (the county's own network,
    or this machine). Checked before every attempt, so a name that later points inward is
    caught at its next delivery."""
    host = urlsplit(url).hostname
    if not host:
        return "the URL has no host"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError as exc:
        return f"{host} does not resolve: {exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if (address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified):
            return (f"refused: {host} resolves to {address}, an internal address; webhooks go "
                    "to public addresses only")
    return None


async def _post(client: httpx.AsyncClient, row: Any, allow_private: bool = True) -> str | None:
    """Sends one notification; returns None on success, else what went wrong."""
    if not allow_private:
        refused = await refused_destination(row.url)
        if refused is not None:
            return refused
    body = body_of(row)
    headers = {"Content-Type": "application/json", "User-Agent": "RedGrid-Webhooks/1",
               "X-RedGrid-Delivery": str(row.id), "X-RedGrid-Event": row.kind,
               "X-RedGrid-Signature": sign(row.secret, body)}
    try:
        response = await client.post(row.url, content=body, headers=headers)
    except Exception as exc:  # any failure to send is this attempt's failure
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"


async def deliver_due(db: Database, client: httpx.AsyncClient, now: datetime,
                      *, batch: int = BATCH, allow_private: bool = True) -> tuple[int, int]:
    """Sends the notifications due at `now` (in batches until none is left); returns how
    many were delivered and how many failed."""
    delivered = failed = 0
    while True:
        async with db.transaction() as conn:
            rows = await queries.claim_due(conn, now=now, lease_until=now + LEASE, limit=batch,
                                           max_attempts=MAX_ATTEMPTS)
        errors = await asyncio.gather(*(_post(client, row, allow_private) for row in rows))
        async with db.connection() as conn:
            for row, error in zip(rows, errors, strict=True):
                if error is None:
                    await queries.mark_delivered(conn, row.id, now)
                    delivered += 1
                    continue
                failed += 1
                if row.attempts >= MAX_ATTEMPTS:
                    error = f"gave up after {row.attempts} attempts; last: {error}"
                    log.warning("notification %s to %s: %s", row.id, row.unit_code, error)
                await queries.mark_failed(conn, row.id, error=error,
                                          next_at=now + backoff(row.attempts))
        if len(rows) < batch:
            return delivered, failed


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)


async def run_once(db: Database, now: datetime | None = None, *,
                   client: httpx.AsyncClient | None = None,
                   after_event_id: int | None = None,
                   allow_private: bool = True) -> PassReport:
    """One pass at `now` (an injectable clock): write the notifications due, send the pending."""
    now = now or datetime.now(UTC)
    async with db.transaction() as conn:
        enqueued = await queries.enqueue_notifications(conn, now, after_event_id=after_event_id)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(new_client())
        delivered, failed = await deliver_due(db, client, now, allow_private=allow_private)
    return PassReport(enqueued.created, delivered, failed, enqueued.watermark)


class WebhookWorker:
    """Runs `run_once` every `interval_s` seconds in the server's lifespan."""

    def __init__(self, db: Database, interval_s: float, *, allow_private: bool = True) -> None:
        self.db = db
        self.interval_s = interval_s
        self.allow_private = allow_private
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redgrid-webhooks")

    def alive(self) -> bool:
        return running(self._task)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        watermark: int | None = None
        async with new_client() as client:
            while True:
                try:
                    report = await run_once(self.db, client=client, after_event_id=watermark,
                                            allow_private=self.allow_private)
                    watermark = report.watermark
                    if report.delivered or report.failed:
                        log.info("webhooks: %s", report)
                except Exception:
                    log.exception("webhook pass failed; trying again in %.0f s", self.interval_s)
                await asyncio.sleep(self.interval_s)
