"""Delivering unit notifications to their webhooks: signed POSTs, retried with backoff.

The notifications of ticket events are written in the events' own transactions (a trigger:
migration 0007); each pass adds the 80 %-to-deadline reminders due and sends what is pending.
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
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from db.database import Database
from db.queries import notifications as queries
from db.queries import outbox
from web.tasks import cancel, running

BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(hours=1)
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)  # longer than a POST can take (TIMEOUT_S)
TIMEOUT_S = 10.0
RESOLVE_TIMEOUT_S = 5.0  # the HTTP timeouts do not cover the lookup made before
CHALLENGE_TIMEOUT_S = 5.0  # the verification handshake runs inside a mutation
MAX_ECHO_BYTES = 1024
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


Resolve = Callable[[str, int], Awaitable[Sequence[str]]]

# Not globally routable, named explicitly beside `is_global`: this network, private ranges,
# carrier-grade NAT (100.64.0.0/10), loopback, link-local, documentation and benchmarking
# ranges, multicast and reserved; in IPv6 also unique-local (fc00::/7), IPv4-mapped and the
# translation prefixes (NAT64, 6to4), through which an IPv4 address inside could be reached.
NOT_GLOBAL = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/127", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"))


class Refused(Exception):
    """A webhook destination that must not be called from here."""


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is not a public one: the county's own network, this machine, or
    anything else not globally routable."""
    return (not address.is_global or address.is_multicast or address.is_reserved
            or any(address in net for net in NOT_GLOBAL if net.version == address.version))


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses of a host name, from the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Destination:
    """A webhook URL and the one address checked for its host, which the POST goes to."""

    url: httpx.URL
    address: str

    @property
    def pinned_url(self) -> httpx.URL:
        return self.url.copy_with(host=self.address)

    @property
    def host(self) -> str:
        """The Host header: the URL's host (and port), as if no address had been pinned."""
        return self.url.netloc.decode("ascii")

    @property
    def extensions(self) -> dict[str, str]:
        """The TLS name (SNI, and the name the certificate must carry): the URL's host."""
        name = self.url.raw_host.decode("ascii")
        return {"sni_hostname": name} if self.url.scheme == "https" else {}


async def destination(url: str, resolve: Resolve = resolve_host, *,
                      allow_private: bool = False,
                      resolve_timeout_s: float = RESOLVE_TIMEOUT_S) -> Destination:
    """Resolves a webhook URL's host once and checks every address it gave.

    The POST then connects to the first address, not to the name, so a name that answers a
    public address to the check and an internal one to the connection (DNS rebinding) is
    never followed inward. Checked before every attempt: a name that later points inward is
    caught at its next delivery.
    """
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise Refused(f"not a URL: {exc}") from None
    host = target.raw_host.decode("ascii")  # an IDN as its ASCII (punycode) name
    if not host:
        raise Refused("the URL has no host")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        answers = await asyncio.wait_for(resolve(host, port), resolve_timeout_s)
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in answers]
    except TimeoutError:
        raise Refused(f"{host} did not resolve within {resolve_timeout_s:g} s") from None
    except (OSError, ValueError) as exc:
        raise Refused(f"{host} does not resolve: {exc}") from None
    if not addresses:
        raise Refused(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            if is_internal(address):
                raise Refused(f"refused: {host} resolves to {address}, an internal address; "
                              "webhooks go to public addresses only")
    return Destination(target, str(addresses[0]))


def failure(exc: Exception) -> str:
    """What a failed attempt records: the message of a connection failure or timeout, only
    the kind of anything else (a protocol error's message may quote what the receiver sent)."""
    if isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
        return f"{type(exc).__name__}: {exc}"[:500]
    return type(exc).__name__


def _headers(to: Destination, body: bytes, secret: str, *, event: str,
             delivery: str) -> dict[str, str]:
    # One connection per request: a kept-alive one to the same address could carry another
    # host's TLS session.
    return {"Host": to.host, "Connection": "close", "Content-Type": "application/json",
            "User-Agent": "RedGrid-Webhooks/1", "X-RedGrid-Delivery": delivery,
            "X-RedGrid-Event": event, "X-RedGrid-Signature": sign(secret, body)}


async def _post(client: httpx.AsyncClient, row: Any, resolve: Resolve,
                allow_private: bool) -> str | None:
    """Sends one notification; returns None on success, else what went wrong (never the
    receiver's response body: it is not read)."""
    try:
        to = await destination(row.url, resolve, allow_private=allow_private)
    except Refused as exc:
        return str(exc)
    body = body_of(row)
    headers = _headers(to, body, row.secret, event=row.kind, delivery=str(row.id))
    try:
        async with client.stream("POST", to.pinned_url, content=body, headers=headers,
                                 extensions=to.extensions) as response:
            status = response.status_code
    except Exception as exc:  # any failure to send is this attempt's failure
        return failure(exc)
    return None if 200 <= status < 300 else f"HTTP {status}"


async def verify_url(url: str, unit_code: str, secret: str, *, resolve: Resolve = resolve_host,
                     allow_private: bool = False,
                     client: httpx.AsyncClient | None = None) -> str | None:
    """The verification handshake for a webhook URL a unit sets itself: POSTs a challenge
    signed with the new secret (`X-RedGrid-Event: URL_VERIFICATION`); None if the receiver
    answered 2xx with the challenge alone as its body, else why not. Only the first
    `MAX_ECHO_BYTES` of the answer are read, and it is not kept."""
    try:
        to = await destination(url, resolve, allow_private=allow_private)
    except Refused as exc:
        return str(exc)
    challenge = secrets.token_urlsafe(32)
    body = orjson.dumps({"type": "URL_VERIFICATION", "unitCode": unit_code,
                         "challenge": challenge}, option=orjson.OPT_SORT_KEYS)
    headers = _headers(to, body, secret, event="URL_VERIFICATION", delivery=challenge)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(new_client(CHALLENGE_TIMEOUT_S))
        try:
            async with client.stream("POST", to.pinned_url, content=body, headers=headers,
                                     extensions=to.extensions) as response:
                if not 200 <= response.status_code < 300:
                    return f"HTTP {response.status_code}"
                echo = b""
                async for chunk in response.aiter_raw():
                    echo += chunk
                    if len(echo) > MAX_ECHO_BYTES:
                        break
        except Exception as exc:
            return failure(exc)
    if not hmac.compare_digest(echo.strip(), challenge.encode()):
        return "the answer was not the challenge"
    return None


async def deliver_due(db: Database, client: httpx.AsyncClient, now: datetime,
                      *, batch: int = BATCH, resolve: Resolve = resolve_host,
                      allow_private: bool = False) -> tuple[int, int]:
    """Sends the notifications due at `now` (in batches until none is left); returns how
    many were delivered and how many failed."""
    delivered = failed = 0
    while True:
        async with db.transaction() as conn:
            rows = await outbox.claim_due(conn, queries.CLAIM, now=now, lease_until=now + LEASE,
                                          limit=batch, max_attempts=MAX_ATTEMPTS)
        errors = await asyncio.gather(*(_post(client, row, resolve, allow_private)
                                        for row in rows))
        async with db.connection() as conn:
            for row, error in zip(rows, errors, strict=True):
                if error is None:
                    await outbox.mark_delivered(conn, "notifications", row.id, now)
                    delivered += 1
                    continue
                failed += 1
                if row.attempts >= MAX_ATTEMPTS:
                    error = f"gave up after {row.attempts} attempts; last: {error}"
                    log.warning("notification %s to %s: %s", row.id, row.unit_code, error)
                await outbox.mark_failed(conn, "notifications", row.id, error=error,
                                         next_at=now + backoff(row.attempts))
        if len(rows) < batch:
            return delivered, failed


def new_client(timeout_s: float = TIMEOUT_S) -> httpx.AsyncClient:
    # No proxy from the environment: a proxy would resolve the name again itself.
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)


async def run_once(db: Database, now: datetime | None = None, *,
                   client: httpx.AsyncClient | None = None, resolve: Resolve = resolve_host,
                   allow_private: bool = False) -> PassReport:
    """One pass at `now` (an injectable clock): write the reminders due, send the pending."""
    now = now or datetime.now(UTC)
    async with db.transaction() as conn:
        enqueued = await queries.enqueue_reminders(conn, now)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(new_client())
        delivered, failed = await deliver_due(db, client, now, resolve=resolve,
                                              allow_private=allow_private)
    return PassReport(enqueued, delivered, failed)


# A further delivery pass run after each webhook pass with the same HTTP client (Web Push).
ThenPass = Callable[[httpx.AsyncClient], Awaitable[None]]


class WebhookWorker:
    """Runs `run_once` every `interval_s` seconds in the server's lifespan, then `then` (the
    push pass, where push is on) in the same loop."""

    def __init__(self, db: Database, interval_s: float, *, allow_private: bool = False,
                 then: ThenPass | None = None) -> None:
        self.db = db
        self.interval_s = interval_s
        self.allow_private = allow_private
        self.then = then
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redgrid-webhooks")

    def alive(self) -> bool:
        return running(self._task)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def _run(self) -> None:
        async with new_client() as client:
            while True:
                try:
                    report = await run_once(self.db, client=client,
                                            allow_private=self.allow_private)
                    if report.delivered or report.failed:
                        log.info("webhooks: %s", report)
                except Exception:
                    log.exception("webhook pass failed; trying again in %.0f s", self.interval_s)
                if self.then is not None:
                    try:
                        await self.then(client)
                    except Exception:
                        log.exception("push pass failed; trying again in %.0f s",
                                      self.interval_s)
                await asyncio.sleep(self.interval_s)
