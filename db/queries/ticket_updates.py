"""Changing tickets: conditional updates on `version`, each with its event, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql

from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES
from db.vocabulary import TicketStatus as Status

_TICKET = """
SELECT t.id, t.code, t.status, t.level, t.version, t.item_code, t.unit_code, t.cell_code,
       t.compound_code, t.community_code, t.street_code, t.reporter_subject, t.created_at,
       t.due_at, t.resolved_at, t.closed_at, t.priority, i.deadline_class
FROM tickets t JOIN demand_items i ON i.code = t.item_code
WHERE t.code = %(code)s
"""

# Columns a change may set, so that no caller-controlled name reaches the SQL.
CHANGEABLE = frozenset({
    "status", "level", "unit_code", "due_at", "resolved_at", "closed_at", "rating",
    "rating_comment", "reject_reason", "merged_into_id", "escalated_at", "priority",
})

_EVENT = """
INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
VALUES (%(ticket_id)s, %(at)s, %(action)s, %(actor)s, %(from_status)s, %(to_status)s, %(note)s)
"""


async def ticket_for_change(conn: AsyncConnection[Any], code: str) -> Any | None:
    return await (await conn.execute(_TICKET, {"code": code})).fetchone()


async def apply_change(conn: AsyncConnection[Any], ticket_id: int, expected_version: int,
                       now: datetime, changes: dict[str, Any], event: dict[str, Any]) -> int | None:
    """Sets `changes` when the ticket is still at `expected_version`, and writes the event;
    returns the new version, or None when another write got there first."""
    bad = set(changes) - CHANGEABLE
    if bad:
        raise ValueError(f"not changeable: {sorted(bad)}")
    sets: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
        for column in changes]
    sets.append(sql.SQL("version = version + 1, updated_at = %(now)s"))
    update = sql.SQL("UPDATE tickets SET {} WHERE id = %(id)s AND version = %(expected)s "
                     "RETURNING version").format(sql.SQL(", ").join(sets))
    row = await (await conn.execute(update, {**changes, "now": now, "id": ticket_id,
                                             "expected": expected_version})).fetchone()
    if row is None:
        return None
    await conn.execute(_EVENT, {"ticket_id": ticket_id, "at": now, "from_status": None,
                                "to_status": None, "note": None, **event})
    return int(row.version)


async def unit_exists(conn: AsyncConnection[Any], code: str) -> bool:
    row = await (await conn.execute("SELECT 1 FROM units WHERE code = %(c)s", {"c": code})).fetchone()
    return row is not None


async def set_units(conn: AsyncConnection[Any], ticket_id: int, lead: str | None,
                    cooperating: Sequence[str]) -> None:
    """Records the lead and cooperating units of a ticket."""
    rows = [{"t": ticket_id, "u": lead, "r": "LEAD"}] if lead else []
    rows += [{"t": ticket_id, "u": u, "r": "COOPERATING"} for u in cooperating if u != lead]
    if rows:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO ticket_units (ticket_id, unit_code, role) VALUES (%(t)s, %(u)s, %(r)s) "
                "ON CONFLICT (ticket_id, unit_code) DO UPDATE SET role = EXCLUDED.role", rows)


async def set_lead_unit(conn: AsyncConnection[Any], ticket_id: int, lead: str) -> None:
    """Makes `lead` the ticket's lead unit; a previous lead loses its row, and with it the
    ticket (cooperating units keep theirs)."""
    await conn.execute("DELETE FROM ticket_units WHERE ticket_id = %(t)s AND role = 'LEAD' "
                       "AND unit_code <> %(u)s", {"t": ticket_id, "u": lead})
    await set_units(conn, ticket_id, lead, [])


_NEAR_OWN_REPORT = """
SELECT EXISTS (
    SELECT 1 FROM tickets t JOIN tickets r
      ON r.reporter_subject = %(subject)s AND r.id <> t.id AND r.item_code = t.item_code
     AND t.created_at BETWEEN r.created_at - %(window)s AND r.created_at
     AND ST_DWithin(r.geom::geography, t.geom::geography, %(radius)s)
    WHERE t.id = %(id)s) AS near
"""


async def near_own_report(conn: AsyncConnection[Any], ticket_id: int, subject: str, *,
                          radius_m: float, window: timedelta) -> bool:
    """Whether the ticket is of the same item as one of `subject`'s reports, within
    `radius_m` of it and from the `window` before it: one that report's possible-duplicate
    hints could list. Driven by the reporter index (a resident has few reports)."""
    row = await (await conn.execute(_NEAR_OWN_REPORT, {
        "id": ticket_id, "subject": subject, "window": window, "radius": radius_m})).fetchone()
    return bool(row and row.near)


async def add_cosigner(conn: AsyncConnection[Any], ticket_id: int, subject: str, at: datetime,
                       note: str | None) -> bool:
    row = await (await conn.execute(
        "INSERT INTO ticket_cosigners (ticket_id, subject, at, note) VALUES (%(t)s, %(s)s, %(at)s, %(n)s) "
        "ON CONFLICT (ticket_id, subject) DO NOTHING RETURNING id",
        {"t": ticket_id, "s": subject, "at": at, "n": note})).fetchone()
    return row is not None


async def move_cosigners(conn: AsyncConnection[Any], duplicate_id: int, original_id: int,
                         reporter: str | None, at: datetime) -> int:
    """Copies a duplicate's co-signers (and its reporter) to the original; returns how many
    were new there."""
    cur = await conn.execute(
        """INSERT INTO ticket_cosigners (ticket_id, subject, at, note)
           SELECT %(o)s, subject, at, note FROM ticket_cosigners WHERE ticket_id = %(d)s
           UNION ALL SELECT %(o)s, %(r)s::varchar, %(at)s, 'reporter of a merged duplicate'
           WHERE %(r)s::varchar IS NOT NULL
           ON CONFLICT (ticket_id, subject) DO NOTHING RETURNING id""",
        {"o": original_id, "d": duplicate_id, "r": reporter, "at": at})
    return len(await cur.fetchall())


async def cosigner_count(conn: AsyncConnection[Any], ticket_id: int) -> int:
    row = await (await conn.execute("SELECT count(*) AS n FROM ticket_cosigners "
                                     "WHERE ticket_id = %(t)s", {"t": ticket_id})).fetchone()
    return int(row.n) if row else 0


_RECENT_OUTCOMES = """
SELECT id, level FROM tickets
WHERE unit_code = %(unit)s AND (escalated_at IS NOT NULL OR closed_at IS NOT NULL)
ORDER BY greatest(escalated_at, closed_at) DESC, id DESC LIMIT 3
"""


async def refer_if_three_at_county(conn: AsyncConnection[Any], unit_code: str,
                                   at: datetime) -> bool:
    """Flags a unit whose 3 most recent tickets (escalated or closed) all reached county level."""
    rows = await (await conn.execute(_RECENT_OUTCOMES, {"unit": unit_code})).fetchall()
    if len(rows) < 3 or any(r.level != "COUNTY" for r in rows):
        return False
    ids = sorted(r.id for r in rows)
    row = await (await conn.execute(
        "INSERT INTO unit_referrals (unit_code, at, ticket_ids) VALUES (%(u)s, %(at)s, %(ids)s) "
        "ON CONFLICT (unit_code, ticket_ids) DO NOTHING RETURNING id",
        {"u": unit_code, "at": at, "ids": ids})).fetchone()
    return row is not None


async def referrals(conn: AsyncConnection[Any], limit: int) -> list[Any]:
    cur = await conn.execute(
        """SELECT r.id, r.at, r.unit_code, u.name AS unit_name, u.kind AS unit_kind,
                  array(SELECT t.code FROM tickets t WHERE t.id = ANY(r.ticket_ids) ORDER BY t.code)
                      AS ticket_codes
           FROM unit_referrals r JOIN units u ON u.code = r.unit_code ORDER BY r.at DESC, r.id DESC
           LIMIT %(n)s""", {"n": limit})
    return await cur.fetchall()


async def overdue_open(conn: AsyncConnection[Any], now: datetime, limit: int) -> list[Any]:
    cur = await conn.execute(
        f"SELECT code FROM tickets WHERE status IN {status_list(OPEN_STATUSES)} "
        "AND due_at < %(now)s AND level <> 'COUNTY' ORDER BY due_at LIMIT %(n)s",
        {"now": now, "n": limit})
    return [r.code for r in await cur.fetchall()]


async def resolved_before(conn: AsyncConnection[Any], before: datetime, limit: int) -> list[Any]:
    cur = await conn.execute(
        f"SELECT code FROM tickets WHERE status IN {status_list([Status.RESOLVED])} "
        "AND resolved_at < %(b)s "
        "ORDER BY resolved_at LIMIT %(n)s", {"b": before, "n": limit})
    return [r.code for r in await cur.fetchall()]


async def rated_tickets(conn: AsyncConnection[Any], unit_code: str, max_rating: int,
                        limit: int) -> list[Any]:
    cur = await conn.execute(
        "SELECT code, rating, rating_comment, closed_at FROM tickets WHERE unit_code = %(u)s "
        "AND rating <= %(m)s ORDER BY closed_at DESC NULLS LAST, code LIMIT %(n)s",
        {"u": unit_code, "m": max_rating, "n": limit})
    return await cur.fetchall()


async def rating_summary(conn: AsyncConnection[Any], unit_code: str) -> Any:
    return await (await conn.execute(
        "SELECT count(rating) AS rated, avg(rating)::float AS average, "
        "count(*) FILTER (WHERE rating <= 2) AS low FROM tickets WHERE unit_code = %(u)s",
        {"u": unit_code})).fetchone()


async def has_event(conn: AsyncConnection[Any], ticket_id: int, action: str) -> bool:
    """Whether the ticket's history holds an event of `action`."""
    row = await (await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM ticket_events WHERE ticket_id = %(t)s AND action = %(a)s)",
        {"t": ticket_id, "a": action})).fetchone()
    return bool(row and row[0])


async def last_move(conn: AsyncConnection[Any], ticket_id: int) -> Any | None:
    """The ticket's latest status change (who, to which status, with which note)."""
    return await (await conn.execute(
        "SELECT actor, from_status, to_status, note FROM ticket_events "
        "WHERE ticket_id = %(t)s AND to_status IS NOT NULL ORDER BY id DESC LIMIT 1",
        {"t": ticket_id})).fetchone()


async def add_event(conn: AsyncConnection[Any], ticket_id: int, at: datetime, action: str,
                    actor: str, note: str | None = None) -> None:
    """An event that changes no status (co-signed, merged in)."""
    await conn.execute(_EVENT, {"ticket_id": ticket_id, "at": at, "action": action,
                                "actor": actor, "from_status": None, "to_status": None,
                                "note": note})


async def raise_priority(conn: AsyncConnection[Any], ticket_id: int, by: int,
                         now: datetime) -> None:
    """Adds to a ticket's priority without a version check, and leaves the version alone:
    such additions commute, so staff holding the version from before a co-sign can still
    move the ticket."""
    await conn.execute("UPDATE tickets SET priority = priority + %(n)s, updated_at = %(now)s "
                       "WHERE id = %(id)s", {"n": by, "now": now, "id": ticket_id})
