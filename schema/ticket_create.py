"""Filing tickets: expected failures come back as payload errors, with nothing written."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import tickets
from resolvers.errors import DomainError
from resolvers.ticket_create import CreateTicketArgs, create_ticket
from schema.inputs import CreateTicketInput
from schema.types import Ticket, TicketPayload, UserError

ANONYMOUS = "anonymous"


@strawberry.type
class TicketCreateMutation:
    @strawberry.mutation(description="Files a resident's demand as a ticket 工单.")
    async def create_ticket(self, info: Info, input: CreateTicketInput,
                            idempotency_key: str | None = None) -> TicketPayload:
        db = info.context.db
        try:
            args = CreateTicketArgs(
                point=input.point.wgs84("input.point"), item_code=input.item_code,
                description=input.description, channel=input.channel.value,
                reporter_name=input.reporter_name, reporter_phone=input.reporter_phone,
            )
            code = await create_ticket(db, args, idempotency_key=idempotency_key,
                                       caller=ANONYMOUS)
        except DomainError as err:
            return TicketPayload(ticket=None,
                                 errors=[UserError(code=err.code.value, field=err.field,
                                                   message=err.message)])
        row = await tickets.ticket_by_code(db, code)
        return TicketPayload(ticket=Ticket.of(row), errors=[])
