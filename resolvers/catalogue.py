"""The responsibility manual 责任清单: 5 categories and 46 demand items, each with the kind of
unit that leads it, the kinds that cooperate, its deadline class and its legal basis.

The manual is the county's published document: everyone may read it, signed in or not.
"""

from __future__ import annotations

from typing import Any

from db.database import Database
from db.queries import catalogue as queries
from resolvers.errors import DomainError, ErrorCode


async def categories(db: Database) -> list[Any]:
    async with db.connection() as conn:
        return await queries.demand_categories(conn)


async def items(db: Database, *, category_code: str | None = None) -> list[Any]:
    """The items in code order, of one category when `category_code` is given; NOT_FOUND for a
    category that does not exist."""
    async with db.connection() as conn:
        if category_code is None:
            return await queries.demand_items(conn)
        rows = await queries.demand_items(conn, category_codes=[category_code])
        if not rows:
            known = [r.code for r in await queries.demand_categories(conn)]
            raise DomainError(ErrorCode.NOT_FOUND, f"no demand category {category_code!r}; "
                              f"categories are {', '.join(known)}", "categoryCode")
    return rows


async def item(db: Database, code: str) -> Any | None:
    async with db.connection() as conn:
        rows = await queries.demand_items(conn, codes=[code])
    return rows[0] if rows else None
