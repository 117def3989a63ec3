"""Queries over the responsibility manual 责任清单: its demand categories and items, and the
units a ticket names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection


async def demand_categories(conn: AsyncConnection[Any],
                            codes: Sequence[str] | None = None) -> list[Any]:
    """Categories in code order, with some codes (None: all)."""
    cur = await conn.execute(
        "SELECT code, name_zh, name_en FROM demand_categories "
        "WHERE %(codes)s::text[] IS NULL OR code = ANY(%(codes)s) ORDER BY code",
        {"codes": None if codes is None else list(codes)})
    return await cur.fetchall()


async def demand_items(conn: AsyncConnection[Any], *, category_codes: Sequence[str] | None = None,
                       codes: Sequence[str] | None = None) -> list[Any]:
    """Items in code order, of some categories and/or with some codes (None: all)."""
    cur = await conn.execute(
        "SELECT i.code, i.category_code, i.name_zh, i.name_en, i.lead_unit_kind, "
        "i.cooperating_unit_kinds, i.deadline_class, i.legal_basis FROM demand_items i "
        "WHERE (%(categories)s::text[] IS NULL OR i.category_code = ANY(%(categories)s)) "
        "AND (%(codes)s::text[] IS NULL OR i.code = ANY(%(codes)s)) ORDER BY i.code",
        {"categories": None if category_codes is None else list(category_codes),
         "codes": None if codes is None else list(codes)})
    return await cur.fetchall()


async def cooperating_units(conn: AsyncConnection[Any], ticket_ids: Sequence[int]) -> list[Any]:
    """The cooperating units of tickets, by unit code within each ticket."""
    cur = await conn.execute(
        "SELECT tu.ticket_id, u.code, u.name, u.kind FROM ticket_units tu "
        "JOIN units u ON u.code = tu.unit_code "
        "WHERE tu.ticket_id = ANY(%(ids)s) AND tu.role = 'COOPERATING' "
        "ORDER BY tu.ticket_id, u.code", {"ids": list(ticket_ids)})
    return await cur.fetchall()
