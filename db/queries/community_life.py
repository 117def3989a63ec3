"""Queries over community life beyond tickets: social organisations 社会组织, market fairs
万市大集 and the service rooms' 社服用房 ledger and applications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from db.queries.ticket_scope import in_scopes

_ROOM_IN = in_scopes("f.compound_code", "f.community_code")
ORGANISATION_COLUMNS = (
    "o.code, o.name, o.kind, o.field, o.home_community_code, o.since, "
    "array(SELECT s.community_code FROM social_organisation_communities s "
    "WHERE s.organisation_code = o.code ORDER BY s.community_code) AS community_codes")


async def social_organisations(conn: AsyncConnection[Any], *, community_code: str | None,
                               kind: str | None, field: str | None) -> list[Any]:
    """Organisations in code order: of a kind and field, serving a community."""
    cur = await conn.execute(
        f"SELECT {ORGANISATION_COLUMNS} FROM social_organisations o "
        "WHERE (%(kind)s::text IS NULL OR o.kind = %(kind)s) "
        "AND (%(field)s::text IS NULL OR o.field = %(field)s) "
        "AND (%(community)s::text IS NULL OR EXISTS (SELECT 1 FROM "
        "social_organisation_communities s WHERE s.organisation_code = o.code "
        "AND s.community_code = %(community)s)) ORDER BY o.code",
        {"kind": kind, "field": field, "community": community_code})
    return await cur.fetchall()


async def market_fairs(conn: AsyncConnection[Any], *, first: date, last: date,
                       community_code: str | None, limit: int) -> list[Any]:
    """Fairs held from `first` to `last` (days, inclusive), of a community's group, in date
    order; at most `limit`."""
    cur = await conn.execute(
        "SELECT f.id, f.held_on, f.venue_compound_code, f.community_codes, f.stalls, "
        "f.attendance FROM market_fairs f WHERE f.held_on BETWEEN %(first)s AND %(last)s "
        "AND (%(community)s::text IS NULL OR %(community)s = ANY(f.community_codes)) "
        "ORDER BY f.held_on, f.id LIMIT %(limit)s",
        {"first": first, "last": last, "community": community_code, "limit": limit})
    return await cur.fetchall()


async def service_rooms(conn: AsyncConnection[Any], *, community_code: str | None,
                        scopes: Sequence[str] | None, first: date, last: date) -> list[Any]:
    """Service rooms with their area, status and rent income over months first..last, in code
    order; `scopes` (None: every room) are community, cell or compound code prefixes."""
    cur = await conn.execute(
        "SELECT f.code, f.name, f.community_code, f.compound_code, f.area_m2, f.status, "
        "coalesce((SELECT sum(r.income) FROM service_room_rents r WHERE r.room_code = f.code "
        "AND r.month BETWEEN %(first)s AND %(last)s), 0) AS income "
        "FROM facilities f WHERE f.kind = 'SERVICE_ROOM' "
        "AND (%(community)s::text IS NULL OR f.community_code = %(community)s) "
        f"AND {_ROOM_IN} ORDER BY f.code",
        {"community": community_code, "scopes": None if scopes is None else list(scopes),
         "first": first, "last": last})
    return await cur.fetchall()


async def room(conn: AsyncConnection[Any], code: str) -> Any | None:
    """A service room, locked for a change of its status."""
    cur = await conn.execute(
        "SELECT code, community_code, compound_code, status FROM facilities "
        "WHERE code = %(code)s AND kind = 'SERVICE_ROOM' FOR UPDATE", {"code": code})
    return await cur.fetchone()


APPLICATION_COLUMNS = ("a.id, a.room_code, a.use, a.purpose, a.status, a.version, a.created_at, "
                       "f.community_code, f.compound_code")


async def application(conn: AsyncConnection[Any], application_id: int) -> Any | None:
    cur = await conn.execute(
        f"SELECT {APPLICATION_COLUMNS} FROM service_room_applications a "
        "JOIN facilities f ON f.code = a.room_code WHERE a.id = %(id)s FOR UPDATE OF a",
        {"id": application_id})
    return await cur.fetchone()


async def applications(conn: AsyncConnection[Any], *, scopes: Sequence[str] | None,
                       community_code: str | None, statuses: Sequence[str] | None,
                       limit: int, application_id: int | None = None) -> list[Any]:
    """Applications newest first, within the scopes, of a community and statuses (or the one
    `application_id`)."""
    cur = await conn.execute(
        f"SELECT {APPLICATION_COLUMNS} FROM service_room_applications a "
        "JOIN facilities f ON f.code = a.room_code "
        "WHERE (%(community)s::text IS NULL OR f.community_code = %(community)s) "
        "AND (%(id)s::bigint IS NULL OR a.id = %(id)s) "
        "AND (%(statuses)s::text[] IS NULL OR a.status = ANY(%(statuses)s)) "
        f"AND {_ROOM_IN} "
        "ORDER BY a.created_at DESC, a.id DESC LIMIT %(limit)s",
        {"community": community_code, "statuses": None if statuses is None else list(statuses),
         "scopes": None if scopes is None else list(scopes), "limit": limit,
         "id": application_id})
    return await cur.fetchall()


async def open_application(conn: AsyncConnection[Any], room_code: str) -> bool:
    """Whether the room has an application still on its way."""
    row = await (await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM service_room_applications WHERE room_code = %(r)s "
        "AND status IN ('APPLIED', 'REVIEWED'))", {"r": room_code})).fetchone()
    return bool(row and row[0])


async def insert_application(conn: AsyncConnection[Any], *, room_code: str, use: str,
                             purpose: str, at: datetime, actor: str, note: str) -> int:
    row = await (await conn.execute(
        "INSERT INTO service_room_applications (room_code, use, purpose, status, version, "
        "created_at) VALUES (%(r)s, %(u)s, %(p)s, 'APPLIED', 1, %(at)s) RETURNING id",
        {"r": room_code, "u": use, "p": purpose, "at": at})).fetchone()
    assert row is not None
    await add_step(conn, row[0], at, "APPLY", actor, note)
    return int(row[0])


async def move_application(conn: AsyncConnection[Any], application_id: int, version: int,
                           status: str) -> bool:
    """Moves an application on when it is still at `version`; whether it moved."""
    cur = await conn.execute(
        "UPDATE service_room_applications SET status = %(s)s, version = version + 1 "
        "WHERE id = %(id)s AND version = %(v)s", {"s": status, "id": application_id, "v": version})
    return cur.rowcount == 1


async def add_step(conn: AsyncConnection[Any], application_id: int, at: datetime, action: str,
                   actor: str, note: str | None) -> None:
    await conn.execute(
        "INSERT INTO service_room_application_events (application_id, at, action, actor, note) "
        "VALUES (%(id)s, %(at)s, %(a)s, %(actor)s, %(note)s)",
        {"id": application_id, "at": at, "a": action, "actor": actor, "note": note})


async def set_room_status(conn: AsyncConnection[Any], code: str, status: str) -> None:
    await conn.execute("UPDATE facilities SET status = %(s)s WHERE code = %(c)s",
                       {"s": status, "c": code})


async def steps(conn: AsyncConnection[Any], ids: Sequence[int]) -> list[Any]:
    cur = await conn.execute(
        "SELECT application_id, at, action, actor, note FROM service_room_application_events "
        "WHERE application_id = ANY(%(ids)s) ORDER BY application_id, at, id",
        {"ids": list(ids)})
    return await cur.fetchall()
