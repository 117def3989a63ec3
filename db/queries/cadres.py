"""Queries over community cadres 社区干部: who they are, the rules, cases, checks, trainings,
mentoring pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from db.queries.ticket_scope import in_scopes

CADRE_COLUMNS = "c.code, c.name, c.community_code, c.post, c.party_member, c.elected_on"
_IN_SCOPE = in_scopes("c.community_code")


async def cadres(conn: AsyncConnection[Any], *, scopes: Sequence[str] | None,
                 community_code: str | None, post: str | None) -> list[Any]:
    cur = await conn.execute(
        f"SELECT {CADRE_COLUMNS} FROM cadres c WHERE {_IN_SCOPE} "
        "AND (%(community)s::text IS NULL OR c.community_code = %(community)s) "
        "AND (%(post)s::text IS NULL OR c.post = %(post)s) ORDER BY c.code",
        {"scopes": None if scopes is None else list(scopes), "community": community_code,
         "post": post})
    return await cur.fetchall()


async def rules(conn: AsyncConnection[Any]) -> list[Any]:
    cur = await conn.execute("SELECT code, kind, name_zh FROM cadre_rules ORDER BY code")
    return await cur.fetchall()


async def cases(conn: AsyncConnection[Any], codes: Sequence[str]) -> list[Any]:
    cur = await conn.execute(
        "SELECT k.cadre_code, k.decided_on, k.note, r.code, r.kind, r.name_zh "
        "FROM cadre_cases k JOIN cadre_rules r ON r.code = k.rule_code "
        "WHERE k.cadre_code = ANY(%(codes)s) ORDER BY k.cadre_code, k.decided_on, k.id",
        {"codes": list(codes)})
    return await cur.fetchall()


async def checks(conn: AsyncConnection[Any], codes: Sequence[str]) -> list[Any]:
    cur = await conn.execute(
        "SELECT cadre_code, year, checked_on, passed FROM cadre_checks "
        "WHERE cadre_code = ANY(%(codes)s) ORDER BY cadre_code, year", {"codes": list(codes)})
    return await cur.fetchall()


async def mentorships(conn: AsyncConnection[Any], codes: Sequence[str]) -> list[Any]:
    cur = await conn.execute(
        "SELECT mentor_code, mentee_code, since FROM cadre_mentorships "
        "WHERE mentor_code = ANY(%(codes)s) OR mentee_code = ANY(%(codes)s) "
        "ORDER BY mentor_code, mentee_code", {"codes": list(codes)})
    return await cur.fetchall()


async def trainings(conn: AsyncConnection[Any], year: int) -> list[Any]:
    cur = await conn.execute(
        "SELECT id, title, destination, started_on, days, cadre_codes FROM cadre_trainings "
        "WHERE extract(year FROM started_on) = %(year)s ORDER BY started_on, id", {"year": year})
    return await cur.fetchall()
