"""Queries over volunteers 志愿者 and the record of their community service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db.queries.ticket_scope import in_scopes

VOLUNTEER_COLUMNS = (
    "v.code, v.name, v.role, v.party_member, v.employer, v.building_code, v.cell_code, "
    "v.compound_code, v.community_code"
)
# A scope code covers every code it prefixes; NULL scopes mean every volunteer.
IN_SCOPE = in_scopes("v.community_code", "v.compound_code", "v.cell_code")
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


@dataclass(frozen=True)
class YearRecord:
    """A member's year under the duty rule, as reported to their employer."""

    volunteer_code: str
    year: int
    community_code: str
    employer: str | None
    participations: int
    misses: int
    longest_miss_run: int
    tier: str


YEAR_RECORD_COLUMNS = ("volunteer_code", "year", "community_code", "employer", "participations",
                       "misses", "longest_miss_run", "tier")


async def report_year(conn: AsyncConnection[Any], records: Sequence[YearRecord], *,
                      reported_at: datetime, reported_by: str) -> int:
    """Writes the records, replacing those of the same members and year; returns how many."""
    async with conn.cursor() as cur:
        await cur.executemany(
            """INSERT INTO volunteer_year_records (volunteer_code, year, community_code, employer,
                   participations, misses, longest_miss_run, tier, reported_at, reported_by)
               VALUES (%(volunteer_code)s, %(year)s, %(community_code)s, %(employer)s,
                   %(participations)s, %(misses)s, %(longest_miss_run)s, %(tier)s,
                   %(reported_at)s, %(reported_by)s)
               ON CONFLICT (volunteer_code, year) DO UPDATE SET
                   community_code = EXCLUDED.community_code, employer = EXCLUDED.employer,
                   participations = EXCLUDED.participations, misses = EXCLUDED.misses,
                   longest_miss_run = EXCLUDED.longest_miss_run, tier = EXCLUDED.tier,
                   reported_at = EXCLUDED.reported_at, reported_by = EXCLUDED.reported_by""",
            [{**{c: getattr(r, c) for c in YEAR_RECORD_COLUMNS}, "reported_at": reported_at,
              "reported_by": reported_by} for r in records])
    return len(records)


@dataclass(frozen=True)
class YearRecordFilter:
    """Which reported records a caller reads: `scopes` (area codes; None: every area),
    `employer_units` (unit codes: only their employees; None: any employer)."""

    year: int
    scopes: Sequence[str] | None
    employer_units: Sequence[str] | None = None
    community_code: str | None = None
    tier: str | None = None


async def year_record_page(conn: AsyncConnection[Any], f: YearRecordFilter, *, limit: int,
                           after: str | None) -> tuple[list[Any], int]:
    """Records with their member's name and role in member code order after a code, at most
    `limit` + 1; and the total count."""
    params: dict[str, Any] = {
        "year": f.year, "scopes": None if f.scopes is None else list(f.scopes),
        "units": None if f.employer_units is None else list(f.employer_units),
        "community": f.community_code, "tier": f.tier, "after": after, "limit": limit + 1}
    where = f"""r.year = %(year)s
  AND {in_scopes("r.community_code")}
  AND (%(units)s::text[] IS NULL OR r.employer IN (
       SELECT name FROM units WHERE code = ANY(%(units)s::text[])))
  AND (%(community)s::text IS NULL OR r.community_code = %(community)s)
  AND (%(tier)s::text IS NULL OR r.tier = %(tier)s)"""
    total = await (await conn.execute(
        "SELECT count(*) AS n FROM volunteer_year_records r WHERE " + where, params)).fetchone()
    rows = await (await conn.execute(
        f"""SELECT {VOLUNTEER_COLUMNS}, r.year, r.employer AS reported_employer,
                   r.participations, r.misses, r.longest_miss_run, r.tier, r.reported_at
            FROM volunteer_year_records r JOIN volunteers v ON v.code = r.volunteer_code
            WHERE {where} AND (%(after)s::text IS NULL OR r.volunteer_code > %(after)s)
            ORDER BY r.volunteer_code LIMIT %(limit)s""", params)).fetchall()
    return rows, int(total.n) if total else 0
