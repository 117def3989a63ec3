"""Who is told what about tickets 工单: live event streams and the units' webhooks.

A live stream is filtered by place or unit, and the filter itself must lie inside the
caller's scope (so every event it lets through does). Units receive their notifications
(dispatch, 80 % of the deadline passed, escalation) at a webhook they register here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from db.database import Database
from db.queries import notifications as queries
from geo.codes import code_kind
from geo.types import BBox
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import limit
from resolvers.policy import Operation

Event = Mapping[str, Any]
MAX_NOTIFICATIONS = 200
COMPOUND_CODE = re.compile(r"[0-9]{12}C[0-9]{2,3}")  # a community code + C03
MAX_REMEMBERED = 4096


class UrlVerifier(Protocol):
    """Sends a signed challenge to a webhook URL (the server's webhook sender)."""

    async def __call__(self, url: str, unit_code: str, secret: str) -> str | None:
        """None if the receiver echoed the challenge, else why not."""
        ...


class EventSource(Protocol):
    """Ticket events as they happen (the server's LISTEN broadcaster)."""

    def subscribe(self, accept: Callable[[Event], bool]
                  ) -> AbstractAsyncContextManager[AsyncIterator[Event]]: ...


def lagged() -> DomainError:
    return DomainError(ErrorCode.CONFLICT, "this subscription fell behind the event stream and "
                       "was ended: subscribe again and refetch what you show")


@dataclass(frozen=True)
class EventFilter:
    """Which ticket events a subscriber wants; every given part must match."""

    cell_code: str | None = None
    community_code: str | None = None
    unit_code: str | None = None
    bbox: BBox | None = None
    compound_code: str | None = None

    def matches(self, event: Event) -> bool:
        """Whether the event passes; for a compound, whether it may (`in_compound` decides)."""
        if self.cell_code is not None and event.get("cellCode") != self.cell_code:
            return False
        if self.community_code is not None and event.get("communityCode") != self.community_code:
            return False
        if (self.compound_code is not None
                and not self.compound_code.startswith(str(event.get("communityCode")))):
            return False
        if self.unit_code is not None and event.get("unitCode") != self.unit_code:
            return False
        if self.bbox is not None:
            lon, lat = event.get("lon"), event.get("lat")
            if lon is None or lat is None:
                return False
            b = self.bbox
            return b.west <= float(lon) <= b.east and b.south <= float(lat) <= b.north
        return True


def event_filter(actor: Actor, *, cell_code: str | None, community_code: str | None,
                 unit_code: str | None, bbox: BBox | None,
                 compound_code: str | None = None) -> EventFilter:
    """A validated filter the caller may watch.

    The county office watches anything; a unit its own unit code; a supervisor 小区监督员 its
    compound; grid workers and staff a cell, community or compound inside their scope (a box
    narrows those further).
    """
    f = EventFilter(cell_code, community_code, unit_code, bbox, compound_code)
    if not any((cell_code, community_code, unit_code, bbox, compound_code)):
        raise bad_input("give at least one filter: cellCode, communityCode, compoundCode, "
                        "unitCode or bbox")
    if cell_code is not None and code_kind(cell_code) != "cell":
        raise bad_input(f"cellCode must be a 15-digit grid cell code, got {cell_code!r}",
                        "cellCode")
    if community_code is not None and code_kind(community_code) != "community":
        raise bad_input(f"communityCode must be a 12-digit community code, got "
                        f"{community_code!r}", "communityCode")
    if compound_code is not None and not COMPOUND_CODE.fullmatch(compound_code):
        raise bad_input(f"compoundCode must be a community code and C + its number, got "
                        f"{compound_code!r}", "compoundCode")
    if unit_code is not None and not 1 <= len(unit_code) <= 24:
        raise bad_input("unitCode must be 1–24 characters", "unitCode")
    if not _may_watch(actor, f):
        raise DomainError(ErrorCode.FORBIDDEN, "your scope does not cover this filter: give a "
                          "cell, community or unit you answer for")
    return f


def _may_watch(actor: Actor, f: EventFilter) -> bool:
    """A filter the caller's WATCH_EVENTS rule covers: a unit its own unit code, a supervisor
    its compound (a cell or community may hold other compounds), others a place in scope."""
    if policy.rule_of(actor, Operation.WATCH_EVENTS) is policy.Scope.ANY:
        return True
    places = {policy.ScopeKey.UNIT: [f.unit_code],
              policy.ScopeKey.COMPOUND: [f.compound_code],
              policy.ScopeKey.CELL: [f.cell_code, f.community_code, f.compound_code],
              }[policy.scope_key(actor)]
    return any(code is not None
               and policy.may(actor, Operation.WATCH_EVENTS, policy.place(code))
               for code in places)


async def in_compound(db: Database, events: AsyncIterator[Event],
                      f: EventFilter) -> AsyncIterator[Event]:
    """The events that pass `f`, its compound checked too.

    The event announcement names a ticket's community but not its compound, so the compound
    of each ticket seen is read once and remembered for the subscription.
    """
    compounds: dict[int, str | None] = {}
    async for event in events:
        if f.compound_code is not None:
            ticket_id = int(event["ticketId"])
            if ticket_id not in compounds:
                if len(compounds) >= MAX_REMEMBERED:
                    compounds.clear()
                async with db.connection() as conn:
                    compounds[ticket_id] = await queries.compound_of_ticket(conn, ticket_id)
            if compounds[ticket_id] != f.compound_code:
                continue
        yield event


# Webhooks ---------------------------------------------------------------------------------

def _may_manage(actor: Actor, unit_code: str) -> bool:
    return policy.may(actor, Operation.READ_UNIT_NOTIFICATIONS, policy.place(unit_code))


def _needs_handshake(actor: Actor, unit_code: str) -> bool:
    """Whether the caller may set the unit's webhook only once the receiver has echoed a
    challenge (the unit itself), rather than outright (the county office); FORBIDDEN for
    anyone else. A webhook URL decides where ticket details go and which addresses RedGrid
    calls, so a unit's own token may not point it at a receiver that has not agreed."""
    if not policy.may(actor, Operation.SET_WEBHOOK, policy.place(unit_code)):
        raise DomainError(ErrorCode.FORBIDDEN, "a unit's webhook is set by the county office, "
                          "or by the unit itself with a verification handshake")
    return policy.rule_of(actor, Operation.SET_WEBHOOK) is not policy.Scope.ANY


def _checked_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise bad_input("url must be an absolute http(s) URL of at most 2,000 characters", "url")
    return url


@dataclass(frozen=True)
class WebhookSet:
    unit_code: str
    url: str
    active: bool
    secret: str


async def set_unit_webhook(db: Database, actor: Actor, *, unit_code: str, url: str,
                           active: bool, verify: UrlVerifier | None = None) -> WebhookSet:
    """Registers (or replaces) a unit's webhook with a fresh signing secret.

    The secret is returned once; deliveries carry `X-RedGrid-Signature: sha256=<HMAC of the
    body>` made with it. Set by the unit itself, the URL is stored only after its receiver
    echoed a challenge signed with the new secret (`verify`); nothing is written otherwise.
    """
    handshake = _needs_handshake(actor, unit_code)
    url = _checked_url(url)
    secret = secrets.token_urlsafe(32)
    async with db.connection() as conn:
        if await queries.unit(conn, unit_code) is None:
            raise DomainError(ErrorCode.NOT_FOUND, f"no unit {unit_code!r}", "unitCode")
    if handshake:  # outside any transaction: the receiver may take seconds
        failure = "webhooks are not sent from here" if verify is None else await verify(
            url, unit_code, secret)
        if failure is not None:
            raise DomainError(ErrorCode.WEBHOOK_NOT_VERIFIED, f"the receiver did not confirm "
                              f"the webhook: {failure}", "url")
    async with db.transaction() as conn:
        row = await queries.set_webhook(conn, unit_code=unit_code, url=url, secret=secret,
                                        active=active)
    return WebhookSet(row.unit_code, row.url, row.active, secret)


async def unit_notifications(db: Database, actor: Actor, unit_code: str,
                             first: int) -> list[Any]:
    """A unit's notifications with their delivery state, newest first."""
    if not _may_manage(actor, unit_code):
        raise DomainError(ErrorCode.FORBIDDEN, f"you may not read the notifications of {unit_code}")
    n = limit(first, cap=MAX_NOTIFICATIONS)
    async with db.connection() as conn:
        return list(await queries.notifications_of_unit(conn, unit_code, n))
