"""Queries over owners' committees 业委会: the sitting committee of each compound (its newest
term), members, vettings, and what the compliance check counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import AsyncConnection

from db.queries.ticket_scope import in_scopes

SITTING = """(SELECT DISTINCT ON (compound_code) * FROM owners_committees
              ORDER BY compound_code, term_start DESC)"""
# A compound within the scope codes (None: everywhere) and of one community (None: any).
COMPOUND_IN = in_scopes("c.community_code", "c.code") + """
  AND (%(community)s::text IS NULL OR c.community_code = %(community)s)"""
MEMBER_COLUMNS = ("m.id, m.committee_id, m.name, m.role, m.party_member, "
                  "m.on_community_committees, m.removed_at, m.removed_for")


async def sitting_committees(conn: AsyncConnection[Any], compound_codes: Sequence[str]) -> list[Any]:
    """The sitting committee of each compound that has one."""
    cur = await conn.execute(
        f"SELECT * FROM {SITTING} oc WHERE oc.compound_code = ANY(%(codes)s)",
        {"codes": list(compound_codes)})
    return await cur.fetchall()


async def members(conn: AsyncConnection[Any], committee_ids: Sequence[int]) -> list[Any]:
    """Members of committees, sitting and removed: chair, vice-chairs, members, then by id."""
    cur = await conn.execute(
        f"SELECT {MEMBER_COLUMNS} FROM committee_members m "
        "WHERE m.committee_id = ANY(%(ids)s) "
        "ORDER BY m.committee_id, array_position(ARRAY['CHAIR', 'VICE_CHAIR', 'MEMBER'], "
        "m.role::text), m.id", {"ids": list(committee_ids)})
    return await cur.fetchall()


async def compliance_rows(conn: AsyncConnection[Any], *, scopes: Sequence[str] | None,
                          community_code: str | None) -> tuple[list[Any], list[Any], Any]:
    """For the compounds in scope: each compound with its sitting committee's leader seats
    and party leaders (committee columns null without one); the members removed by the
    negative list; and the vetting counts."""
    params = {"scopes": None if scopes is None else list(scopes), "community": community_code}
    compounds = await (await conn.execute(
        f"""SELECT c.code, c.name, c.community_code, oc.id AS committee_id, oc.term_start,
                   oc.term_end, oc.elected_at,
                   count(m.id) FILTER (WHERE m.role <> 'MEMBER') AS leader_seats,
                   count(m.id) FILTER (WHERE m.role <> 'MEMBER' AND m.party_member)
                       AS party_leaders
            FROM compounds c
            LEFT JOIN {SITTING} oc ON oc.compound_code = c.code
            LEFT JOIN committee_members m ON m.committee_id = oc.id AND m.removed_at IS NULL
            WHERE {COMPOUND_IN}
            GROUP BY c.code, oc.id, oc.term_start, oc.term_end, oc.elected_at
            ORDER BY c.code""", params)).fetchall()
    removed = await (await conn.execute(
        f"""SELECT {MEMBER_COLUMNS}, c.code AS compound_code
            FROM committee_members m JOIN {SITTING} oc ON oc.id = m.committee_id
            JOIN compounds c ON c.code = oc.compound_code
            WHERE m.removed_at IS NOT NULL AND {COMPOUND_IN}
            ORDER BY c.code, m.id""", params)).fetchall()
    vetted = await (await conn.execute(
        f"""SELECT count(DISTINCT v.member_id) AS vetted,
                   count(DISTINCT v.member_id) FILTER (WHERE v.outcome = 'REMOVED') AS removed
            FROM committee_vettings v JOIN committee_members m ON m.id = v.member_id
            JOIN owners_committees oc ON oc.id = m.committee_id
            JOIN compounds c ON c.code = oc.compound_code
            WHERE {COMPOUND_IN}""", params)).fetchone()
    return compounds, removed, vetted


@dataclass(frozen=True)
class NewMember:
    name: str
    role: str
    party_member: bool
    on_community_committees: bool


async def insert_committee(conn: AsyncConnection[Any], *, compound_code: str, term_start: date,
                           term_end: date, members: Sequence[NewMember], at: datetime,
                           actor: str) -> Any:
    """Writes an elected committee, its members and their vetting on election (passed)."""
    cur = await conn.execute(
        "INSERT INTO owners_committees (compound_code, term_start, term_end, elected_at, "
        "elected_by) VALUES (%s, %s, %s, %s, %s) RETURNING *",
        (compound_code, term_start, term_end, at, actor))
    committee = await cur.fetchone()
    assert committee is not None
    for m in members:
        cur = await conn.execute(
            "INSERT INTO committee_members (committee_id, name, role, party_member, "
            "on_community_committees) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (committee.id, m.name, m.role, m.party_member, m.on_community_committees))
        row = await cur.fetchone()
        assert row is not None
        await conn.execute("INSERT INTO committee_vettings (member_id, vetted_at, outcome, "
                           "vetted_by) VALUES (%s, %s, 'PASSED', %s)", (row.id, at, actor))
    return committee


async def member_for_vetting(conn: AsyncConnection[Any], member_id: int) -> Any | None:
    """A member with their compound and whether their committee sits, locked for the vetting."""
    cur = await conn.execute(
        f"""SELECT {MEMBER_COLUMNS}, oc.compound_code, c.community_code,
                   oc.id = (SELECT s.id FROM {SITTING} s
                            WHERE s.compound_code = oc.compound_code) AS sitting
            FROM committee_members m JOIN owners_committees oc ON oc.id = m.committee_id
            JOIN compounds c ON c.code = oc.compound_code
            WHERE m.id = %(id)s FOR UPDATE OF m""", {"id": member_id})
    return await cur.fetchone()


async def record_vetting(conn: AsyncConnection[Any], *, member_id: int, items: Sequence[str],
                         at: datetime, actor: str) -> Any:
    """Writes a vetting; a negative-list hit removes the member. Returns the member."""
    outcome = "REMOVED" if items else "PASSED"
    await conn.execute("INSERT INTO committee_vettings (member_id, vetted_at, negative_items, "
                       "outcome, vetted_by) VALUES (%s, %s, %s, %s, %s)",
                       (member_id, at, list(items), outcome, actor))
    if items:
        await conn.execute("UPDATE committee_members SET removed_at = %s, removed_for = %s "
                           "WHERE id = %s", (at, items[0], member_id))
    cur = await conn.execute(f"SELECT {MEMBER_COLUMNS} FROM committee_members m "
                             "WHERE m.id = %s", (member_id,))
    row = await cur.fetchone()
    assert row is not None
    return row
