"""Filing tickets: expected failures come back as payload errors, with nothing written."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload
from strawberry.types import Info

from resolvers import photos as photo_rules
from resolvers import tickets
from resolvers.errors import DomainError
from resolvers.ticket_create import (
    CreateTicketArgs,
    create_ticket,
    exact_duplicate_distances,
    possible_duplicates,
)
from schema.inputs import CreateTicketInput
from schema.lookahead import selected
from schema.types import DuplicateHint, Ticket, TicketPayload, user_errors

PHOTOS_ARGUMENT = (
    "Photos of the step, as files of a GraphQL multipart request: JPEG, PNG or WebP, at most "
    f"{photo_rules.MAX_PHOTOS_PER_STEP}, {photo_rules.MAX_PHOTO_BYTES // (1024 * 1024)} MB and "
    f"{photo_rules.MAX_PIXELS:,} pixels each; stored re-encoded without metadata.")


def failed(err: DomainError) -> TicketPayload:
    return TicketPayload(ticket=None, errors=user_errors(err))


@strawberry.type
class TicketCreateMutation:
    @strawberry.mutation(description="Files a resident's demand as a ticket 工单. Reports open "
                                     "tickets of the same item within 100 m from the last 30 days.")
    async def create_ticket(
        self, info: Info, input: CreateTicketInput, idempotency_key: str | None = None,
        photos: Annotated[list[Upload] | None,
                          strawberry.argument(description=PHOTOS_ARGUMENT)] = None,
    ) -> TicketPayload:
        db, actor = info.context.db, info.context.actor
        try:
            args = CreateTicketArgs(
                point=input.point.wgs84("input.point"), item_code=input.item_code,
                description=input.description, channel=input.channel.value,
                reporter_name=input.reporter_name, reporter_phone=input.reporter_phone,
            )
            code = await create_ticket(db, args, idempotency_key=idempotency_key, actor=actor,
                                       photos=photos, media=info.context.media)
        except DomainError as err:
            return failed(err)
        row = await tickets.ticket_by_code(db, code)
        if "possibleDuplicates" not in selected(info):  # a statement saved
            return TicketPayload(ticket=Ticket.of(row), errors=[], possible_duplicates=[])
        exact = exact_duplicate_distances(actor)
        hints = [DuplicateHint(code=d.code, item_code=d.item_code,
                               distance_m=d.distance_m if exact else round(d.distance_m / 50) * 50.0)
                 for d in await possible_duplicates(db, row)]
        return TicketPayload(ticket=Ticket.of(row), errors=[], possible_duplicates=hints)
