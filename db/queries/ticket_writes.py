"""Writing tickets: one insert with its events in the same transaction, idempotent by key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db import labels
from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES, TIME_ZONE
from geo import hexagons

_ITEM = ("""
SELECT code, lead_unit_kind, cooperating_unit_kinds, deadline_class
FROM demand_items WHERE code = %(code)s
""")

_COMPANY = ("""
SELECT company_code FROM property_contracts
WHERE compound_code = %(compound)s AND start_date <= %(day)s AND (end_date IS NULL OR %(day)s < end_date)
ORDER BY start_date DESC LIMIT 1
""")

_COUNTY_UNITS = ("SELECT kind, code FROM units WHERE community_code IS NULL "
                     "AND street_code IS NULL AND kind <> 'PROPERTY_COMPANY'")

_INSERT = (f"""
WITH n AS (SELECT nextval(pg_get_serial_sequence('tickets', 'id')) AS id)
INSERT INTO tickets (
    id, code, item_code, channel, description, reporter_name, reporter_phone, status, level,
    geom, cell_code, compound_code, community_code, zone_code, street_code, unit_code,
    created_at, due_at, updated_at, version, idempotency_caller, idempotency_key, request_hash,
    reporter_subject, h3_9, h3_8)
SELECT n.id, 'T' || to_char(%(now)s AT TIME ZONE '{TIME_ZONE}', 'YYYYMMDD') || '-'
              || lpad(n.id::text, 7, '0'),
       %(item_code)s, %(channel)s, %(description)s, %(reporter_name)s, %(reporter_phone)s, %(status)s,
       'COMMUNITY', ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(cell_code)s, %(compound_code)s,
       %(community_code)s, %(zone_code)s, %(street_code)s, %(unit_code)s, %(now)s, %(due_at)s, %(now)s,
       %(version)s, %(caller)s, %(key)s, %(request_hash)s, %(reporter_subject)s, %(h3_9)s, %(h3_8)s
FROM n
ON CONFLICT (idempotency_caller, idempotency_key) DO NOTHING
RETURNING id, code
""")

_EVENT = ("""
INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
VALUES (%(ticket_id)s, %(at)s, %(action)s, %(actor)s, %(from_status)s, %(to_status)s, %(note)s)
""")
# The routing note names the unit (已派单至…), read in the same statement that writes it.
_DISPATCH_EVENT = ("""
INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
SELECT %(ticket_id)s, %(at)s, 'DISPATCHED', 'routing', 'SUBMITTED', 'DISPATCHED',
       %(prefix)s || name
FROM units WHERE code = %(unit_code)s
""")

_BY_KEY = ("""
SELECT code, request_hash FROM tickets WHERE idempotency_caller = %(caller)s AND idempotency_key = %(key)s
""")


async def demand_item(conn: AsyncConnection[Any], code: str) -> Any | None:
    return await (await conn.execute(_ITEM, {"code": code})).fetchone()


async def company_of(conn: AsyncConnection[Any], compound_code: str, day: Any) -> str | None:
    row = await (await conn.execute(_COMPANY, {"compound": compound_code, "day": day})).fetchone()
    return row.company_code if row else None


async def county_units(conn: AsyncConnection[Any]) -> dict[str, str]:
    return {r.kind: r.code for r in await (await conn.execute(_COUNTY_UNITS)).fetchall()}


@dataclass(frozen=True)
class NewTicket:
    item_code: str
    channel: str
    description: str
    reporter_name: str | None
    reporter_phone: str | None
    lon: float
    lat: float
    cell_code: str
    compound_code: str | None
    community_code: str
    zone_code: str
    street_code: str
    unit_code: str | None
    now: datetime
    due_at: datetime
    caller: str
    reporter_subject: str | None
    key: str | None
    request_hash: str | None
    actor: str


async def hold_cells(conn: AsyncConnection[Any]) -> None:
    """Waits for a place import in progress (which holds the places against writers until it
    commits) and keeps the grid cells as they are until this transaction ends; other tickets
    are filed meanwhile (SHARE locks do not conflict)."""
    await conn.execute("LOCK TABLE grid_cells IN SHARE MODE")


async def insert_ticket(conn: AsyncConnection[Any], t: NewTicket) -> Any | None:
    """Inserts the ticket and its events; returns its (id, code), or None when the
    idempotency key was already used (the caller then looks the earlier ticket up)."""
    status = "DISPATCHED" if t.unit_code else "SUBMITTED"
    params = {**t.__dict__, "status": status, "version": 2 if t.unit_code else 1,
              "h3_9": hexagons.cell_of(t.lon, t.lat, 9), "h3_8": hexagons.cell_of(t.lon, t.lat, 8)}
    created = await (await conn.execute(_INSERT, params)).fetchone()
    if created is None:
        return None
    await conn.execute(_EVENT, {"ticket_id": created.id, "at": t.now, "action": "CREATED",
                                "actor": t.actor, "from_status": None, "to_status": "SUBMITTED",
                                "note": None})
    if t.unit_code:
        await conn.execute(_DISPATCH_EVENT, {"ticket_id": created.id, "at": t.now,
                                             "prefix": labels.DISPATCHED_TO,
                                             "unit_code": t.unit_code})
    return created


async def ticket_by_idempotency_key(conn: AsyncConnection[Any], caller: str,
                                    key: str) -> Any | None:
    return await (await conn.execute(_BY_KEY, {"caller": caller, "key": key})).fetchone()


_DUPLICATES = f"""
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT t.code, t.item_code, ST_Distance(t.geom::geography, p.g::geography) AS distance_m
FROM tickets t, p
WHERE t.item_code = %(item)s AND t.status IN {status_list(OPEN_STATUSES)}
  AND t.created_at >= %(since)s AND t.code <> %(code)s
  AND t.geom_metric && ST_Expand(ST_Transform(p.g, 4549), %(reach)s)
ORDER BY distance_m, t.code LIMIT 20
"""


async def open_duplicates(conn: AsyncConnection[Any], *, code: str, item_code: str, lon: float,
                          lat: float, radius_m: float, since: Any) -> list[Any]:
    """Open tickets of the same item within `radius_m` created since `since`, nearest first."""
    rows = await (await conn.execute(_DUPLICATES, {
        "lon": lon, "lat": lat, "item": item_code, "since": since, "code": code,
        "reach": radius_m * 1.001 + 1})).fetchall()
    return [r for r in rows if r.distance_m <= radius_m]
