"""Live updates and unit notifications: the `ticketEvents` subscription, units' webhooks and
their notification log."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from geo.types import Crs
from resolvers import notifications
from resolvers.errors import DomainError, ErrorCode
from resolvers.notifications import EventSource
from schema.geometry import point_geometry
from schema.inputs import BBoxInput
from schema.notices import USER_ERRORS, cap_text
from schema.scalars import GeoJSON, Level, TicketStatus
from schema.types import UserError, user_errors

WGS84 = Crs.WGS84
log = logging.getLogger("redgrid.errors")


def _status(value: Any) -> TicketStatus | None:
    return TicketStatus(value) if value else None


@strawberry.type(description="A ticket event 工单事件 as it happens.")
class TicketEventMessage:
    event_id: strawberry.ID
    code: str
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    status: TicketStatus
    level: Level
    at: datetime
    cell_code: str
    community_code: str
    unit_code: str | None
    lon: strawberry.Private[float]
    lat: strawberry.Private[float]

    @strawberry.field(description="The ticket's point.")
    def geometry(self, crs: Crs | None = WGS84) -> GeoJSON:
        return point_geometry(self.lon, self.lat, crs)

    @classmethod
    def of(cls, event: Any) -> TicketEventMessage:
        return cls(
            event_id=strawberry.ID(str(event["eventId"])), code=event["code"],
            action=event["action"], from_status=_status(event.get("fromStatus")),
            to_status=_status(event.get("toStatus")), status=TicketStatus(event["status"]),
            level=Level(event["level"]), at=datetime.fromisoformat(event["at"]),
            cell_code=event["cellCode"], community_code=event["communityCode"],
            unit_code=event.get("unitCode"), lon=float(event["lon"]), lat=float(event["lat"]),
        )


async def until_expiry(events: AsyncIterator[Any], expires_at: float | None
                       ) -> AsyncIterator[Any]:
    """The events until the caller's token expires (epoch seconds), then UNAUTHENTICATED: a
    websocket outliving its token must not keep streaming."""
    while True:
        left = None if expires_at is None else expires_at - time.time()
        if left is not None and left <= 0:
            raise token_expired()
        try:
            event = await asyncio.wait_for(anext(events), timeout=left)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise token_expired() from None
        yield event


def token_expired() -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, "the token has expired; reconnect with a "
                       "fresh token in connection_init")


def _source(info: Info) -> EventSource:
    source: EventSource | None = info.context.live
    if source is None:
        raise RuntimeError("live updates are not running in this process")
    return source


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(description="Ticket events as they happen, for a cell, a community, "
                                         "a compound, a unit and/or a box (at least one; all "
                                         "given must match), within the caller's scope: a "
                                         "supervisor watches its compounds.")
    async def ticket_events(self, info: Info, cell_code: str | None = None,
                            community_code: str | None = None, unit_code: str | None = None,
                            bbox: BBoxInput | None = None, compound_code: str | None = None
                            ) -> AsyncGenerator[TicketEventMessage, None]:
        wanted = notifications.event_filter(
            info.context.actor, cell_code=cell_code, community_code=community_code,
            unit_code=unit_code, bbox=bbox.wgs84() if bbox is not None else None,
            compound_code=compound_code)
        try:
            async with _source(info).subscribe(wanted.matches) as events:
                placed = notifications.in_compound(info.context.db, events, wanted)
                async for event in until_expiry(placed, info.context.expires_at):
                    yield TicketEventMessage.of(event)
        except DomainError:
            raise
        except Exception as exc:
            # Subscription results bypass the ErrorCodes extension: mask here in the same way.
            request_id = info.context.request_id
            log.error("unexpected error in subscription %s", request_id, exc_info=exc)
            raise GraphQLError("Unexpected error.", extensions={
                "code": "INTERNAL_SERVER_ERROR", "requestId": request_id}) from None


@strawberry.enum
class NotificationKind(enum.Enum):
    DISPATCHED = "DISPATCHED"
    DUE_SOON = "DUE_SOON"
    ESCALATED = "ESCALATED"


@strawberry.type(description="Where a unit receives its notifications.")
class UnitWebhook:
    unit_code: str
    url: str
    active: bool


@strawberry.type
class UnitWebhookPayload:
    webhook: UnitWebhook | None
    secret: str | None = strawberry.field(description="The signing secret, shown only once: "
                                          "`X-RedGrid-Signature` is `sha256=` + the hex HMAC-SHA256 "
                                          "of the request body with it.")
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="A notification to a unit and its delivery to the unit's webhook.")
class UnitNotification:
    id: strawberry.ID
    kind: NotificationKind
    ticket_code: str
    at: datetime
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None = strawberry.field(description="Why the last attempt failed: the "
                                              "receiver's HTTP status, a refused address or a "
                                              "connection error; never the receiver's response.")

    @classmethod
    def of(cls, row: Any) -> UnitNotification:
        return cls(id=strawberry.ID(str(row.id)), kind=NotificationKind(row.kind),
                   ticket_code=row.ticket_code, at=datetime.fromisoformat(row.payload["at"]),
                   created_at=row.created_at, delivered_at=row.delivered_at,
                   attempts=row.attempts,
                   next_attempt_at=None if row.delivered_at else row.next_attempt_at,
                   last_error=row.last_error)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Registers or replaces the webhook where a unit receives its "
                                     "notifications (dispatch, 80 % of the deadline passed, "
                                     "escalation), with a new signing secret. For the county "
                                     "office, or the unit itself once the receiver echoes a "
                                     "challenge (WEBHOOK_NOT_VERIFIED otherwise).")
    async def set_unit_webhook(self, info: Info, unit_code: str, url: str,
                               active: bool = True) -> UnitWebhookPayload:
        verify = info.context.webhook_verifier
        try:
            done = await notifications.set_unit_webhook(info.context.db, info.context.actor,
                                                        unit_code=unit_code, url=url,
                                                        active=active, verify=verify)
        except DomainError as err:
            return UnitWebhookPayload(webhook=None, secret=None, errors=user_errors(err))
        return UnitWebhookPayload(
            webhook=UnitWebhook(unit_code=done.unit_code, url=done.url, active=done.active),
            secret=done.secret, errors=[])


@strawberry.type
class NotificationQuery:
    @strawberry.field(description="A unit's notifications and their delivery state, newest first. "
                                  "For the unit itself and the county office. "
                                  + cap_text(notifications.MAX_NOTIFICATIONS))
    async def unit_notifications(self, info: Info, unit_code: str,
                                 first: int = 50) -> list[UnitNotification]:
        rows = await notifications.unit_notifications(info.context.db, info.context.actor,
                                                      unit_code, first)
        return [UnitNotification.of(r) for r in rows]
