"""Web Push subscriptions 推送订阅 of field workers' phones.

A grid worker (or a supervisor, or community staff) signed in on the field app subscribes
the phone's browser; its push messages then follow the unit notifications of tickets inside
the caller's scope (dispatch, 80 % of the deadline passed, escalation). The subscription keeps
the scope codes of the token it was made with; the app renews it on every start.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from db.database import Database
from db.queries import push as queries
from resolvers import policy
from resolvers.actor import Actor
from resolvers.disclosure import disclosure
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.policy import Operation

MAX_ENDPOINT_CHARS = 2000
AUTH_BYTES = 16  # RFC 8291: the user agent's authentication secret
P256_POINT_BYTES = 65  # an uncompressed P-256 point: 0x04, x, y


@dataclass(frozen=True)
class PushEndpoints:
    """How the server accepts push endpoints: https only (production), and the address check
    the webhooks use (None when the endpoint's host may be called, else why not)."""

    https_only: bool
    check_address: Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class Subscribed:
    endpoint: str
    scopes: tuple[str, ...]
    renewed_at: datetime


def b64url_bytes(value: str, field: str) -> bytes:
    """The bytes of a base64url value (padding optional), or BAD_USER_INPUT at `field`."""
    text = value.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise bad_input(f"{field} must be base64url", field) from None


def _checked_keys(p256dh: str, auth: str) -> tuple[str, str]:
    point = b64url_bytes(p256dh, "p256dh")
    if len(point) != P256_POINT_BYTES or point[0] != 4:
        raise bad_input("p256dh must be an uncompressed P-256 public key (65 bytes, base64url)",
                        "p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise bad_input("p256dh is not a point on the P-256 curve", "p256dh") from None
    if len(b64url_bytes(auth, "auth")) != AUTH_BYTES:
        raise bad_input(f"auth must be the {AUTH_BYTES}-byte secret, base64url", "auth")
    return p256dh.strip(), auth.strip()


async def _checked_endpoint(endpoint: str, endpoints: PushEndpoints) -> str:
    url = endpoint.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_ENDPOINT_CHARS:
        raise bad_input(f"endpoint must be an absolute URL of at most {MAX_ENDPOINT_CHARS:,} "
                        "characters", "endpoint")
    if endpoints.https_only and parts.scheme != "https":
        raise DomainError(ErrorCode.PUSH_ENDPOINT_REFUSED, "a push endpoint must be https",
                          "endpoint")
    refused = await endpoints.check_address(url)
    if refused is not None:
        raise DomainError(ErrorCode.PUSH_ENDPOINT_REFUSED, refused, "endpoint")
    return url


def _push_on(endpoints: PushEndpoints | None) -> PushEndpoints:
    if endpoints is None:
        raise DomainError(ErrorCode.PUSH_NOT_CONFIGURED, "this server sends no push "
                          "notifications (no VAPID key is set)")
    return endpoints


async def subscribe_push(db: Database, actor: Actor, endpoints: PushEndpoints | None, *,
                         endpoint: str, p256dh: str, auth: str,
                         now: datetime | None = None) -> Subscribed:
    """Stores the caller's push subscription (or renews it: the same endpoint is one phone's
    browser, now the caller's), tied to the caller's subject and scope codes."""
    policy.check_role(actor, Operation.RECEIVE_PUSH, "push notifications are for grid workers, "
                      "supervisors and community staff")
    # Pushed messages name tickets: a phone is told of the tickets its holder sees as records,
    # by the disclosure rule (resolvers/disclosure.py), by cell or by compound.
    records = disclosure(actor).records
    if records is not None and records.compound_prefixes is not None:
        ticket_key, scopes = "compound", records.compound_prefixes
    elif records is not None and records.cell_prefixes is not None:
        ticket_key, scopes = "cell", records.cell_prefixes
    else:
        raise DomainError(ErrorCode.FORBIDDEN, "your token names no cells to be notified about")
    push = _push_on(endpoints)
    p256dh, auth = _checked_keys(p256dh, auth)
    url = await _checked_endpoint(endpoint, push)
    async with db.transaction() as conn:
        row = await queries.subscribe(conn, endpoint=url, p256dh=p256dh, auth=auth,
                                      subject=actor.subject, role=actor.role.value,
                                      ticket_key=ticket_key, scopes=scopes,
                                      now=now or datetime.now(UTC))
    return Subscribed(row.endpoint, tuple(row.scopes), row.renewed_at)


async def unsubscribe_push(db: Database, actor: Actor, *, endpoint: str) -> bool:
    """Removes the caller's own subscription at `endpoint`; whether there was one."""
    policy.check_role(actor, Operation.RECEIVE_PUSH)
    async with db.transaction() as conn:
        return await queries.unsubscribe(conn, endpoint=endpoint.strip(), subject=actor.subject)
