"""Personal data 个人信息 on tickets: the reporter's name and phone, masked for callers whose
scope does not cover the ticket, and every unmasked read written to the access log first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from db.database import Database
from db.queries import access_log as queries
from db.queries.access_log import Access, AccessFilter
from resolvers import policy
from resolvers.actor import Actor
from resolvers.inputs import limit
from resolvers.policy import Operation
from resolvers.tickets import MAX_PAGE, decode_cursor

MIN_DIGITS_TO_SHOW = 8


def mask_name(name: str | None) -> str | None:
    """The first character and two stars (张伟 → 张**); a one-character name is `*`."""
    if name is None:
        return None
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "**"


def mask_phone(phone: str | None) -> str | None:
    """The first 3 and last 4 digits around four stars (138****1234) when the number has at
    least 8 digits; otherwise every character a star."""
    if phone is None:
        return None
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < MIN_DIGITS_TO_SHOW:
        return "*" * len(phone)
    return "".join(digits[:3]) + "****" + "".join(digits[-4:])


MASKS = {"reporterName": mask_name, "reporterPhone": mask_phone}


def sees_reporter(actor: Actor, ticket: Any) -> bool:
    """Whether the caller's scope covers the ticket, so they read its reporter unmasked: the
    county office, field and office staff of its cell (supervisors: its compound), its lead
    unit and the resident who reported it. Planners and the public never do."""
    return policy.may(actor, Operation.READ_REPORTER, policy.ticket(ticket))


def shown(field: str, value: str | None, *, unmasked: bool) -> str | None:
    """The value of a reporter field as the caller may read it."""
    return value if unmasked else MASKS[field](value)


async def record(db: Database, actor: Actor, reads: Mapping[int, Sequence[str]]) -> None:
    """Writes the access log rows for unmasked reads (ticket id → fields); raises if it cannot,
    so that nothing is shown unrecorded."""
    accesses = [Access(subject=actor.subject, role=actor.role.value, ticket_id=ticket_id,
                       fields=tuple(sorted(fields))) for ticket_id, fields in reads.items()]
    async with db.transaction() as conn:
        await queries.record_accesses(conn, accesses)


async def access_page(db: Database, actor: Actor, f: AccessFilter, *, first: int,
                      after: str | None) -> tuple[list[Any], bool, int]:
    """A page of the access log, newest first: rows, whether more follow, and the total."""
    policy.check_role(actor, Operation.READ_ACCESS_LOG,
                      "the personal-data access log is for the county office")
    n = limit(first, cap=MAX_PAGE)
    keyset = decode_cursor(after) if after else None
    async with db.connection() as conn:
        rows, total = await queries.access_page(conn, f, limit=n, after=keyset)
    return rows[:n], len(rows) > n, total
