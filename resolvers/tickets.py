"""Reading tickets 工单: nearest open tickets, pages with opaque cursors, single tickets."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from db.database import Database
from db.queries import places as place_queries
from db.queries import tickets as queries
from db.queries.joined import Joined
from db.queries.ticket_filter import TicketConditions as TicketConditions
from db.queries.ticket_filter import TicketFilterArgs
from db.queries.ticket_scope import EVERYTHING, TicketScope
from db.queries.tickets import NearestQuery
from geo.projection import to_metric
from geo.types import LonLat
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import limit, local_time, radius
from resolvers.policy import Operation, Scope

MAX_PAGE = 200


def ticket_scope(actor: Actor) -> TicketScope:
    """The tickets a caller may see (the policy's READ_TICKETS), for `db/` to apply in SQL;
    FORBIDDEN for callers who see aggregates only (the public, planners)."""
    rule = policy.rule_of(actor, Operation.READ_TICKETS)
    if rule is None:
        raise DomainError(ErrorCode.FORBIDDEN, "ticket locations and details are for staff, grid "
                          "workers, supervisors, units and the reporter; the public and planners "
                          "see aggregates such as compoundMonthlyTickets")
    if rule is Scope.ANY:
        return EVERYTHING
    if rule is Scope.OWN:
        return TicketScope(reporter=actor.subject)
    if not actor.scopes:
        raise DomainError(ErrorCode.FORBIDDEN, "your token names no scope")
    key = policy.ticket_key(actor)
    if key == "unit":  # the tickets it leads or cooperates on
        return TicketScope(units=actor.scopes)
    if key == "compound":
        return TicketScope(compound_prefixes=actor.scopes)
    return TicketScope(cell_prefixes=actor.scopes)


async def nearby_tickets(db: Database, actor: Actor, point: LonLat, *, radius_m: float,
                         statuses: Sequence[str] | None, first: int,
                         columns: Sequence[str] | None = None) -> list[Any]:
    """Tickets within `radius_m` of a point that the caller may see, nearest first by
    geodesic metres; each row with the named `columns` (and id and code) only, or all."""
    scope = ticket_scope(actor)
    r = radius(radius_m)
    n = limit(first, cap=MAX_PAGE)
    x, y = to_metric(point.lon, point.lat)
    q = NearestQuery(point.lon, point.lat, x, y, r, statuses, n, scope,
                     *(() if columns is None else (queries.ticket_columns(columns),)))
    async with db.connection() as conn:
        return await queries.nearest_tickets(conn, q)


async def ticket_by_code(db: Database, code: str) -> Any | None:
    """A ticket whatever the caller's scope: for answering a write the caller just made."""
    async with db.connection() as conn:
        rows = await queries.tickets_by_code(conn, [code])
    return rows[0] if rows else None


async def visible_ticket(db: Database, actor: Actor, code: str) -> Any | None:
    """A ticket if the caller may see it, else None."""
    scope = ticket_scope(actor)
    async with db.connection() as conn:
        rows = await queries.tickets_by_code(conn, [code], scope)
    return rows[0] if rows else None


# What a ticket row leads to, by relation name: the rows its loaders would give.
TICKET_RELATIONS = {
    "cell": place_queries.related_place("cell", "grid_cells", "cell_code"),
    "compound": place_queries.related_place("compound", "compounds", "compound_code"),
    "community": place_queries.related_place("community", "communities", "community_code"),
    "unit": place_queries.related_place("unit", "units", "unit_code"),
    "events": queries.EVENTS,
}


async def visible_ticket_with(db: Database, actor: Actor, code: str, related: Sequence[str],
                              *, columns: Sequence[str] | None = None) -> Joined | None:
    """`visible_ticket` with the named `TICKET_RELATIONS` in the same statement; the ticket
    row with the named `columns` only (and those the relations hang from), or all."""
    scope = ticket_scope(actor)
    async with db.connection(generic_plans=True) as conn:
        return await queries.ticket_joined(conn, code, scope,
                                           [TICKET_RELATIONS[name] for name in related],
                                           columns=columns)


def encode_cursor(created_at: datetime, ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{ticket_id}".encode()).decode()


def decode_cursor(cursor: str, *, field: str = "after") -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        stamp, ticket_id = raw.rsplit("|", 1)
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            raise ValueError("no offset")
        return at, int(ticket_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad_input("`after` is not a cursor this API returned", field) from None


async def ticket_page(db: Database, actor: Actor, f: TicketFilterArgs, *, first: int,
                      after: str | None) -> tuple[list[Any], bool, int]:
    """A page of tickets, newest first: the rows, whether more follow, and the total count."""
    scope = ticket_scope(actor)
    n = limit(first, cap=MAX_PAGE)
    keyset = decode_cursor(after) if after else None
    # Without an offset a time is Asia/Shanghai time (and so comparable with one that has it).
    f = replace(f, created_from=f.created_from and local_time(f.created_from),
                created_to=f.created_to and local_time(f.created_to))
    if f.created_from and f.created_to and f.created_from > f.created_to:
        raise bad_input("`createdFrom` must not be after `createdTo`", "filter.createdFrom")
    async with db.connection() as conn:
        rows, total = await queries.ticket_page(conn, f, limit=n, after=keyset, scope=scope)
    return rows[:n], len(rows) > n, total


# The most tickets one export holds: a county's year and more (the demo's 18 months are about
# 9,900). A larger selection is refused before any row is sent, asking for a narrower filter.
MAX_EXPORT_ROWS = 50_000


async def export_tickets(db: Database, actor: Actor, f: TicketFilterArgs) -> list[Any]:
    """The tickets of a filter for an export, newest first, scoped exactly as `tickets` is;
    EXPORT_TOO_LARGE past MAX_EXPORT_ROWS."""
    scope = ticket_scope(actor)
    cap = MAX_EXPORT_ROWS
    if f.created_from and f.created_to and f.created_from >= f.created_to:
        raise bad_input("`from` must come before `to`", "from")
    async with db.connection() as conn:
        rows, total = await queries.ticket_page(conn, f, limit=cap, after=None, scope=scope)
    if total > cap:
        raise DomainError(ErrorCode.EXPORT_TOO_LARGE, f"{total:,} tickets match; an export "
                          f"holds at most {cap:,}: narrow the filter (from, to, status, "
                          "communityCode, cellCode, itemCode)")
    return rows
