"""Queries behind Open311 GeoReport v2: registered clients, services, and requests (tickets 工单
with what the client sent beside them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.errors import UniqueViolation

from db.queries.conditions import Conditions
from db.queries.ticket_scope import TicketScope
from geo.types import BBox

_INSERT_CLIENT = """
INSERT INTO open311_clients (name, key_hash, role, scopes, channel)
VALUES (%(name)s, %(key_hash)s, %(role)s, %(scopes)s, %(channel)s)
RETURNING id
"""

_CLIENT_BY_KEY = """
SELECT id, name, role, scopes, channel FROM open311_clients WHERE key_hash = %(key_hash)s
"""

_SERVICES = """
SELECT i.code, i.name_zh, i.name_en, i.deadline_class, c.code AS category_code,
       c.name_zh AS category_zh, c.name_en AS category_en
FROM demand_items i JOIN demand_categories c ON c.code = i.category_code
ORDER BY i.code
"""

_INSERT_REQUEST = """
INSERT INTO open311_requests (ticket_id, client_id, address_string, media_url, device_id,
                              account_id, email, attributes)
VALUES (%(ticket_id)s, %(client_id)s, %(address_string)s, %(media_url)s, %(device_id)s,
        %(account_id)s, %(email)s, %(attributes)s)
"""

# A ticket as an Open311 request: the ticket, its item's name, its lead unit's name, and what
# the client sent (NULL for tickets filed elsewhere).
_REQUEST_COLUMNS = sql.SQL("""
t.id, t.code, t.status, t.item_code, i.name_zh AS item_name, t.description, t.created_at,
t.updated_at, t.due_at, ST_X(t.geom) AS lon, ST_Y(t.geom) AS lat, u.name AS unit_name,
p.name AS compound_name, m.name AS community_name, r.address_string, r.media_url,
r.client_id
""")
_REQUEST_FROM = sql.SQL("""
FROM tickets t
JOIN demand_items i ON i.code = t.item_code
JOIN communities m ON m.code = t.community_code
LEFT JOIN compounds p ON p.code = t.compound_code
LEFT JOIN units u ON u.code = t.unit_code
LEFT JOIN open311_requests r ON r.ticket_id = t.id
""")


class DuplicateClientName(Exception):
    """A client of that name is registered already."""


async def insert_client(conn: AsyncConnection[Any], *, name: str, key_hash: str, role: str,
                        scopes: Sequence[str], channel: str) -> int:
    try:
        row = await (await conn.execute(_INSERT_CLIENT, {
            "name": name, "key_hash": key_hash, "role": role, "scopes": list(scopes),
            "channel": channel})).fetchone()
    except UniqueViolation:
        raise DuplicateClientName(name) from None
    assert row is not None
    return int(row.id)


async def client_by_key_hash(conn: AsyncConnection[Any], key_hash: str) -> Any | None:
    return await (await conn.execute(_CLIENT_BY_KEY, {"key_hash": key_hash})).fetchone()


async def services(conn: AsyncConnection[Any]) -> list[Any]:
    """The demand items 诉求事项 with their category, by code."""
    return await (await conn.execute(_SERVICES)).fetchall()


@dataclass(frozen=True)
class RequestExtras:
    """What an Open311 client sent beside the ticket itself."""

    client_id: int
    address_string: str | None = None
    media_url: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    email: str | None = None
    attributes: str = "{}"  # JSON text


async def insert_request(conn: AsyncConnection[Any], ticket_id: int, extras: RequestExtras) -> None:
    await conn.execute(_INSERT_REQUEST, {"ticket_id": ticket_id, **extras.__dict__})


@dataclass(frozen=True)
class RequestQuery:
    """Which requests to list; `None` fields do not restrict."""

    codes: Sequence[str] | None = None
    item_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: Sequence[str] | None = None
    bbox: BBox | None = None


async def requests(conn: AsyncConnection[Any], q: RequestQuery, *, scope: TicketScope | None,
                   client_id: int, limit: int, offset: int) -> list[Any]:
    """Requests the client may see, newest first: those it filed, and those `scope` lets
    through (None: none beyond its own)."""
    params: dict[str, Any] = {"client_id": client_id, "limit": limit, "offset": offset}
    own = sql.SQL("r.client_id = %(client_id)s")
    if scope is None:
        visible: sql.Composable = own
    else:
        scope_sql, scope_params = scope.clause("t")
        visible = sql.SQL("({} OR {})").format(own, sql.SQL(scope_sql))  # the scope's own SQL
        params.update(scope_params)
    where = Conditions(visible)
    where.add("t.code = ANY(%(codes)s)", "codes", q.codes)
    where.add("t.item_code = %(item_code)s", "item_code", q.item_code)
    where.add("t.created_at >= %(start)s", "start", q.start)
    where.add("t.created_at < %(end)s", "end", q.end)
    where.add("t.status = ANY(%(statuses)s)", "statuses", q.statuses)
    if q.bbox is not None:
        where.parts.append(sql.SQL("t.geom && ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, "
                                   "%(north)s, 4326)"))
        params.update(west=q.bbox.west, south=q.bbox.south, east=q.bbox.east,
                      north=q.bbox.north)
    params.update(where.params)
    query = sql.SQL("SELECT {} {} WHERE {} ORDER BY t.created_at DESC, t.id DESC "
                    "LIMIT %(limit)s OFFSET %(offset)s").format(
        _REQUEST_COLUMNS, _REQUEST_FROM, where.clause())
    return await (await conn.execute(query, params)).fetchall()
