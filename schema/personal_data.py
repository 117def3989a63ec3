"""Reporter fields on tickets, masked or logged, and the access log the county office reads.

Each request gets one recorder (a DataLoader): the reporter fields of every ticket resolved in
the same tick are logged in one INSERT, one row per ticket with the fields read, and a field
read twice in a request (aliases) is logged once. The value is returned only after its row is
written.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from resolvers import personal_data
from resolvers.personal_data import AccessFilter
from resolvers.tickets import MAX_PAGE, encode_cursor
from schema.notices import PAGE_EDGES, cap_text
from schema.pagination import PageInfo

Read = tuple[int, str]
# The fields whose unmasked read is logged (type, field): `reporter_field`'s callers.
LOGGED_FIELDS = frozenset({("Ticket", "reporterName"), ("Ticket", "reporterPhone")})
_RECORDER = "personal_data_recorder"


def _recorder(context: Any) -> DataLoader[Read, None]:
    # Kept on the context object, like its cached `loaders`: one per request.
    state = vars(context)
    if _RECORDER not in state:
        db, actor = context.db, context.actor

        async def write(keys: list[Read]) -> list[None]:
            reads: dict[int, list[str]] = defaultdict(list)
            for ticket_id, field in keys:
                reads[ticket_id].append(field)
            await personal_data.record(db, actor, reads)
            return [None] * len(keys)

        state[_RECORDER] = DataLoader(load_fn=write)
    recorder: DataLoader[Read, None] = state[_RECORDER]
    return recorder


def _on_file(ticket: Any, column: str) -> str | None:
    # A `Ticket` keeps the raw value as `<column>_on_file`, a ticket row as `<column>`.
    value: str | None = getattr(ticket, f"{column}_on_file", None)
    if value is None:
        value = getattr(ticket, column, None)
    return value


async def reporter_field(info: Info, ticket: Any, field: str, column: str) -> str | None:
    """A reporter field of a ticket (a `Ticket` or a ticket row) as the caller may read it."""
    value = _on_file(ticket, column)
    if value is None:
        return None
    if not personal_data.sees_reporter(info.context.actor, ticket):
        return personal_data.shown(field, value, unmasked=False)
    await _recorder(info.context).load((ticket.id, field))
    return value


@strawberry.type(description="An unmasked read of a ticket's reporter name and/or phone.")
class PersonalDataAccess:
    at: datetime
    subject: str
    role: str
    ticket_code: str
    fields: list[str] = strawberry.field(
        description="The personal fields read unmasked. At most 2: reporterName and reporterPhone.")


@strawberry.type
class PersonalDataAccessEdge:
    cursor: str
    node: PersonalDataAccess


@strawberry.type
class PersonalDataAccessConnection:
    edges: list[PersonalDataAccessEdge] = strawberry.field(description=PAGE_EDGES)
    page_info: PageInfo
    total_count: int


@strawberry.type
class AccessLogQuery:
    @strawberry.field(description="Who read which ticket's reporter name or phone unmasked, and "
                                  "when; newest first. For the county office. "
                                  + cap_text(MAX_PAGE) + " Page on with `after`.")
    async def personal_data_access(self, info: Info, first: int | None = 50,
                                   after: str | None = None, subject: str | None = None,
                                   ticket_code: str | None = None
                                   ) -> PersonalDataAccessConnection:
        rows, more, total = await personal_data.access_page(
            info.context.db, info.context.actor,
            AccessFilter(subject=subject, ticket_code=ticket_code),
            first=50 if first is None else first, after=after)
        edges = [PersonalDataAccessEdge(
            cursor=encode_cursor(r.at, r.id),
            node=PersonalDataAccess(at=r.at, subject=r.subject, role=r.role,
                                    ticket_code=r.ticket_code, fields=list(r.fields)))
            for r in rows]
        return PersonalDataAccessConnection(
            edges=edges, total_count=total,
            page_info=PageInfo(has_next_page=more,
                               end_cursor=edges[-1].cursor if edges else None))
