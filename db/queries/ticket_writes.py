"""Writing tickets: one insert with its events in the same transaction, idempotent by key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db import labels
from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES, TIME_ZONE
from db.vocabulary import TicketStatus as Status
from geo import hexagons

# What routing a new ticket needs, in one statement: the demand item, the compound's property
# company under contract on the day (none without a compound), and the county-level units by
# kind (db/responsibility.py routes with them). No row: no such item.
_ROUTING = ("""
SELECT i.code, i.lead_unit_kind, i.cooperating_unit_kinds, i.deadline_class,
       (SELECT pc.company_code FROM property_contracts pc
        WHERE pc.compound_code = %(compound)s AND pc.start_date <= %(day)s
          AND (pc.end_date IS NULL OR %(day)s < pc.end_date)
        ORDER BY pc.start_date DESC LIMIT 1) AS company_code,
       (SELECT json_object_agg(u.kind, u.code) FROM units u
        WHERE u.community_code IS NULL AND u.street_code IS NULL
          AND u.kind <> 'PROPERTY_COMPANY') AS county_units
FROM demand_items i WHERE i.code = %(code)s
""")

# The ticket, its events and its units in one statement. The events come from one INSERT, in
# order (CREATED, then DISPATCHED when a unit is routed, its note naming the unit 已派单至…), so
# their ids follow the history; the units' rows are the lead's and the cooperating ones'. A key
# used before inserts nothing (ON CONFLICT) and returns no row.
_INSERT = (f"""
WITH n AS (SELECT nextval(pg_get_serial_sequence('tickets', 'id')) AS id),
t AS (
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
),
e AS (
INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
SELECT t.id, %(now)s, x.action, x.actor, x.from_status, x.to_status, x.note
FROM t CROSS JOIN LATERAL (
    SELECT 1 AS step, 'CREATED' AS action, %(actor)s::text AS actor, NULL::text AS from_status,
           %(submitted)s::text AS to_status, NULL::text AS note
    UNION ALL
    SELECT 2, 'DISPATCHED', 'routing', %(submitted)s, %(dispatched)s, %(prefix)s || u.name
    FROM units u WHERE u.code = %(unit_code)s
) x
ORDER BY x.step
),
r AS (
INSERT INTO ticket_units (ticket_id, unit_code, role)
SELECT t.id, x.unit_code, x.role
FROM t CROSS JOIN unnest(%(unit_codes)s::text[], %(unit_roles)s::text[]) AS x(unit_code, role)
ON CONFLICT (ticket_id, unit_code) DO UPDATE SET role = EXCLUDED.role
)
SELECT id, code FROM t
""")

_BY_KEY = ("""
SELECT code, request_hash FROM tickets WHERE idempotency_caller = %(caller)s AND idempotency_key = %(key)s
""")


async def routing(conn: AsyncConnection[Any], item_code: str, compound_code: str | None,
                  day: Any) -> Any | None:
    """The demand item (None if there is none) with what routing needs: `company_code` of the
    compound on `day`, and `county_units`, a unit code per county-level kind."""
    return await (await conn.execute(_ROUTING, {"code": item_code, "compound": compound_code,
                                                "day": day})).fetchone()


@dataclass
class TicketPlacement:
    """Where a ticket 工单 lies (its grid cell, compound, community, zone and street, by
    containment) and the unit routed to lead it: the columns every written ticket fills,
    live (`NewTicket`) or generated for the demo (`db/demo/tickets.py`)."""

    cell_code: str
    compound_code: str | None
    community_code: str
    zone_code: str
    street_code: str
    unit_code: str | None


@dataclass
class NewTicket(TicketPlacement):
    item_code: str
    channel: str
    description: str
    reporter_name: str | None
    reporter_phone: str | None
    lon: float
    lat: float
    now: datetime
    due_at: datetime
    caller: str
    reporter_subject: str | None
    key: str | None
    request_hash: str | None
    actor: str
    cooperating: tuple[str, ...] = ()


def insert_params(t: NewTicket) -> dict[str, Any]:
    """The parameters of `_INSERT` for a ticket."""
    units = [(t.unit_code, "LEAD")] if t.unit_code else []
    units += [(u, "COOPERATING") for u in t.cooperating if u != t.unit_code]
    fields = {k: v for k, v in t.__dict__.items() if k != "cooperating"}
    return {**fields, "status": Status.DISPATCHED if t.unit_code else Status.SUBMITTED,
            "submitted": Status.SUBMITTED, "dispatched": Status.DISPATCHED,
            "version": 2 if t.unit_code else 1, "prefix": labels.DISPATCHED_TO,
            "h3_9": hexagons.cell_of(t.lon, t.lat, 9), "h3_8": hexagons.cell_of(t.lon, t.lat, 8),
            "unit_codes": [u for u, _ in units], "unit_roles": [r for _, r in units]}


async def hold_cells(conn: AsyncConnection[Any]) -> None:
    """Waits for a place import in progress (which holds the places against writers until it
    commits) and keeps the grid cells as they are until this transaction ends; other tickets
    are filed meanwhile (SHARE locks do not conflict)."""
    await conn.execute("LOCK TABLE grid_cells IN SHARE MODE")


async def insert_ticket(conn: AsyncConnection[Any], t: NewTicket) -> Any | None:
    """Inserts the ticket with its events and its lead and cooperating units; returns its
    (id, code), or None when the idempotency key was already used (the caller then looks the
    earlier ticket up)."""
    return await (await conn.execute(_INSERT, insert_params(t))).fetchone()


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
