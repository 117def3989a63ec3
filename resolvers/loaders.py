"""Batch look-ups behind the per-request DataLoaders (schema/context.py).

Each function here makes a batch function for one relation: it takes the keys of one batch and
answers in their order (a row or None each, or a list each), with one SQL statement on one
pooled connection. The schema wraps them in DataLoaders; the data layer stays behind them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from psycopg import AsyncConnection

from db.database import Database as Database
from db.queries import catalogue as catalogue_queries
from db.queries import committees as committee_queries
from db.queries import places as place_queries
from db.queries import tickets as ticket_queries
from resolvers.actor import Actor
from resolvers.photos import visible_photos

Fetch = Callable[[AsyncConnection[Any], Sequence[Any]], Awaitable[Sequence[Any]]]
Batch = Callable[[list[Any]], Awaitable[list[Any]]]


def one_each(db: Database, fetch: Fetch, key: str) -> Batch:
    """The row whose `key` is each key, or None."""
    async def load(keys: list[Any]) -> list[Any]:
        async with db.connection() as conn:
            rows = await fetch(conn, keys)
        found = {getattr(r, key): r for r in rows}
        return [found.get(k) for k in keys]

    return load


def many_each(db: Database, fetch: Fetch, key: str) -> Batch:
    """The rows whose `key` is each key, in the order the statement gives them."""
    async def load(keys: list[Any]) -> list[list[Any]]:
        async with db.connection() as conn:
            rows = await fetch(conn, keys)
        grouped: dict[Any, list[Any]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, key)].append(r)
        return [grouped.get(k, []) for k in keys]

    return load


def _places(table: str, column: str) -> Fetch:
    async def fetch(conn: AsyncConnection[Any], keys: Sequence[Any]) -> Sequence[Any]:
        return await place_queries.places_by_key(conn, table, column, keys)

    return fetch


def place(db: Database, table: str) -> Batch:
    """Places of one table (streets, zones, communities, ...) by code."""
    return one_each(db, _places(table, "code"), "code")


def places_in(db: Database, table: str, column: str) -> Batch:
    """Places of one table by the code of the place holding them (`column`: `zone_code`, ...)."""
    return many_each(db, _places(table, column), column)


def units(db: Database) -> Batch:
    """Responsible units by code."""
    return one_each(db, place_queries.units_by_code, "code")


def zone_staff(db: Database) -> Batch:
    """The staff of each zone 片区, secretary first."""
    return many_each(db, place_queries.zone_staff, "zone_code")


def ticket_events(db: Database) -> Batch:
    """The events of each ticket (by ticket id), oldest first."""
    return many_each(db, ticket_queries.events_by_ticket, "ticket_id")


def cooperating_units(db: Database) -> Batch:
    """The cooperating units of each ticket (by ticket id)."""
    return many_each(db, catalogue_queries.cooperating_units, "ticket_id")


def demand_categories(db: Database) -> Batch:
    """Demand categories by code."""
    return one_each(db, catalogue_queries.demand_categories, "code")


async def _demand_items(conn: AsyncConnection[Any], codes: Sequence[Any]) -> Sequence[Any]:
    return await catalogue_queries.demand_items(conn, codes=codes)


def demand_items(db: Database) -> Batch:
    """Demand items of the responsibility catalogue by code."""
    return one_each(db, _demand_items, "code")


def owners_committees(db: Database) -> Batch:
    """The sitting owners' committee 业委会 of each compound (by compound code), or None."""
    return one_each(db, committee_queries.sitting_committees, "compound_code")


def committee_members(db: Database) -> Batch:
    """The members of each committee (by committee id), sitting and removed."""
    return many_each(db, committee_queries.members, "committee_id")


def geometries(db: Database, table: str) -> Batch:
    """GeoJSON text of places of one table, by code (None for an unknown code)."""
    async def load(codes: list[Any]) -> list[Any]:
        async with db.connection() as conn:
            found = await place_queries.geometries(conn, table, codes)
        return [found.get(c) for c in codes]

    return load


def photos(db: Database, actor: Actor) -> Batch:
    """Photos by ticket id, of the tickets the caller may see (none for the public)."""
    async def fetch(conn: AsyncConnection[Any], ids: Sequence[Any]) -> Sequence[Any]:
        return await visible_photos(conn, actor, ids)

    return many_each(db, fetch, "ticket_id")
