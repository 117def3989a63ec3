"""Moving tickets along and watching units: transitions, escalation, co-signing, merging,
efficiency-office referrals and ratings."""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from resolvers import tickets, workflow
from resolvers.errors import DomainError
from resolvers.lifecycle import Request
from schema.scalars import TicketStatus
from schema.ticket_create import PHOTOS_ARGUMENT, failed
from schema.types import Ticket, TicketPayload, Unit


@strawberry.enum
class RejectReason(enum.Enum):
    DUPLICATE = "DUPLICATE"
    OUT_OF_SCOPE = "OUT_OF_SCOPE"
    INVALID = "INVALID"


@strawberry.input
class TransitionTicketInput:
    code: str
    to: TicketStatus
    expected_version: int
    note: str | None = None
    reason: RejectReason | None = None
    unit_code: str | None = None
    rating: int | None = None


@strawberry.input
class EscalateTicketInput:
    code: str
    expected_version: int
    note: str | None = None


@strawberry.input
class CoordinateTicketInput:
    code: str
    expected_version: int
    note: str | None = None


@strawberry.input
class MergeTicketsInput:
    duplicate_code: str
    original_code: str
    expected_version: int


@strawberry.type
class Referral:
    """A unit referred to the county efficiency office 作风效能办公室."""

    at: datetime
    unit: Unit
    ticket_codes: list[str] = strawberry.field(
        description="The unit's 3 most recent tickets then, all at county level. At most 3.")


@strawberry.type
class UnitRatings:
    unit_code: str
    rated: int
    average: float | None
    low: int
    low_rated_ticket_codes: list[str] = strawberry.field(
        description="Its tickets rated at or below maxRating, most recently closed first. At "
                    "most 200.")


def _now() -> datetime:
    return datetime.now(UTC)


async def _moved(info: Info, step: Awaitable[str]) -> TicketPayload:
    """The payload of a workflow step: the ticket it moved (by the code the step returns),
    or the step's errors with nothing written."""
    try:
        code = await step
    except DomainError as err:
        return failed(err)
    row = await tickets.ticket_by_code(info.context.db, code)
    return TicketPayload(ticket=Ticket.of(row), errors=[])


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(description="Moves a ticket along its lifecycle (see the README table).")
    async def transition_ticket(
        self, info: Info, input: TransitionTicketInput,
        photos: Annotated[list[Upload] | None,
                          strawberry.argument(description=PHOTOS_ARGUMENT)] = None,
    ) -> TicketPayload:
        req = Request(target=input.to.value, note=input.note,
                      reason=input.reason.value if input.reason else None,
                      unit_code=input.unit_code, rating=input.rating)
        ctx = info.context
        return await _moved(info, workflow.transition(
            ctx.db, ctx.actor, input.code, input.expected_version, req, _now(), photos=photos,
            media=ctx.media))

    @strawberry.mutation(description="Escalates an open ticket: community → street → county.")
    async def escalate_ticket(self, info: Info, input: EscalateTicketInput) -> TicketPayload:
        return await _moved(info, workflow.escalate(
            info.context.db, info.context.actor, input.code, input.expected_version, input.note,
            _now()))

    @strawberry.mutation(description="A zone 片区 takes over a community-level ticket that is "
                                     "stuck, before it is escalated to the street: once per "
                                     "ticket, with a fresh deadline, shown in its events as "
                                     "ZONE_COORDINATED. Zone officers (and the county office).")
    async def coordinate_ticket(self, info: Info, input: CoordinateTicketInput) -> TicketPayload:
        return await _moved(info, workflow.coordinate(
            info.context.db, info.context.actor, input.code, input.expected_version, input.note,
            _now()))

    @strawberry.mutation(description="Adds the caller's support to an open ticket.")
    async def cosign_ticket(self, info: Info, code: str, note: str | None = None) -> TicketPayload:
        try:
            await workflow.cosign(info.context.db, info.context.actor, code, note, _now())
        except DomainError as err:
            return failed(err)
        # A co-signer knows the code, not the ticket: it comes back only if the caller may see it.
        row = await tickets.visible_ticket(info.context.db, info.context.actor, code)
        return TicketPayload(ticket=Ticket.of(row) if row else None, errors=[])

    @strawberry.mutation(description="Folds a duplicate into its original ticket.")
    async def merge_tickets(self, info: Info, input: MergeTicketsInput) -> TicketPayload:
        return await _moved(info, workflow.merge(
            info.context.db, info.context.actor, input.duplicate_code, input.original_code,
            input.expected_version, _now()))


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="Units referred to the county efficiency office: their 3 most "
                                  "recent tickets all reached county level. Newest first; at "
                                  "most 200.")
    async def efficiency_referrals(self, info: Info) -> list[Referral]:
        rows = await workflow.referrals(info.context.db, info.context.actor)
        return [Referral(at=r.at, unit=Unit(code=r.unit_code, name=r.unit_name, kind=r.unit_kind),
                         ticket_codes=list(r.ticket_codes)) for r in rows]

    @strawberry.field(description="A unit's ratings, with its tickets rated at or below maxRating.")
    async def unit_ratings(self, info: Info, unit_code: str, max_rating: int = 2) -> UnitRatings:
        summary, low = await workflow.unit_ratings(info.context.db, info.context.actor, unit_code,
                                                   max_rating)
        return UnitRatings(unit_code=unit_code, rated=summary.rated, average=summary.average,
                           low=summary.low, low_rated_ticket_codes=[r.code for r in low])
