"""Queries over volunteers 志愿者 and the record of their community service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

VOLUNTEER_COLUMNS = (
    "v.code, v.name, v.role, v.party_member, v.employer, v.building_code, v.cell_code, "
    "v.compound_code, v.community_code"
)
# A scope code covers every code it prefixes; NULL scopes mean every volunteer.
IN_SCOPE = """(%(scopes)s::text[] IS NULL OR EXISTS (
    SELECT 1 FROM unnest(%(scopes)s::text[]) AS s(code)
    WHERE starts_with(v.community_code, s.code) OR starts_with(v.compound_code, s.code)
       OR starts_with(v.cell_code, s.code)))"""
SERVICE_COLUMNS = (
    "s.id, s.volunteer_code, s.at, s.kind, s.ticket_id, t.code AS ticket_code, s.note, "
    "s.recorded_by"
)


@dataclass(frozen=True)
class VolunteerFilter:
    """Equality filters on volunteers; `scopes` None means the caller sees everyone."""

    scopes: Sequence[str] | None
    cell_code: str | None = None
    compound_code: str | None = None
    community_code: str | None = None
    role: str | None = None


def _where(f: VolunteerFilter) -> tuple[list[str], dict[str, Any]]:
    where = [IN_SCOPE]
    params: dict[str, Any] = {"scopes": None if f.scopes is None else list(f.scopes)}
    for column in ("cell_code", "compound_code", "community_code", "role"):
        value = getattr(f, column)
        if value is not None:
            where.append(f"v.{column} = %({column})s")
            params[column] = value
    return where, params


async def volunteer_page(conn: AsyncConnection[Any], f: VolunteerFilter, *, limit: int,
                         after: str | None) -> tuple[list[Any], int]:
    """Volunteers in code order after a code, at most `limit` + 1; and the total count."""
    where, params = _where(f)
    count_sql = f"SELECT count(*) AS n FROM volunteers v WHERE {' AND '.join(where)}"
    total = await (await conn.execute(count_sql, params)).fetchone()
    if after is not None:
        where.append("v.code > %(after)s")
        params["after"] = after
    params["limit"] = limit + 1
    sql = (f"SELECT {VOLUNTEER_COLUMNS} FROM volunteers v WHERE {' AND '.join(where)} "
           "ORDER BY v.code LIMIT %(limit)s")
    rows = await (await conn.execute(sql, params)).fetchall()
    return rows, int(total.n) if total else 0


async def volunteer_by_code(conn: AsyncConnection[Any], code: str) -> Any | None:
    cur = await conn.execute(f"SELECT {VOLUNTEER_COLUMNS} FROM volunteers v "
                             "WHERE v.code = %(code)s", {"code": code})
    return await cur.fetchone()


@dataclass(frozen=True)
class NewService:
    volunteer_code: str
    at: datetime
    kind: str
    ticket_id: int | None
    note: str | None
    recorded_by: str


async def insert_service(conn: AsyncConnection[Any], s: NewService) -> Any:
    """Writes one service record and returns it with its ticket's code."""
    cur = await conn.execute(
        f"""WITH s AS (
                INSERT INTO volunteer_services (volunteer_code, at, kind, ticket_id, note,
                                                recorded_by)
                VALUES (%(volunteer_code)s, %(at)s, %(kind)s, %(ticket_id)s, %(note)s,
                        %(recorded_by)s)
                RETURNING *)
            SELECT {SERVICE_COLUMNS} FROM s LEFT JOIN tickets t ON t.id = s.ticket_id""",
        {"volunteer_code": s.volunteer_code, "at": s.at, "kind": s.kind,
         "ticket_id": s.ticket_id, "note": s.note, "recorded_by": s.recorded_by})
    row = await cur.fetchone()
    assert row is not None
    return row


async def services_in_period(conn: AsyncConnection[Any], f: VolunteerFilter, *,
                             start: datetime, end: datetime) -> list[Any]:
    """Each volunteer of the filter with the kinds of their services in [start, end), in
    time order (ties by record id)."""
    where, params = _where(f)
    params.update(start=start, end=end)
    sql = f"""
SELECT {VOLUNTEER_COLUMNS},
       coalesce(array_agg(s.kind ORDER BY s.at, s.id) FILTER (WHERE s.id IS NOT NULL),
                '{{}}') AS kinds
FROM volunteers v
LEFT JOIN volunteer_services s
       ON s.volunteer_code = v.code AND s.at >= %(start)s AND s.at < %(end)s
WHERE {' AND '.join(where)}
GROUP BY v.code
ORDER BY v.code"""
    return await (await conn.execute(sql, params)).fetchall()
