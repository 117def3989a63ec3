"""The per-request context: the database, a request id and DataLoaders built for this request."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from psycopg import AsyncConnection
from strawberry.dataloader import DataLoader

from db.database import Database
from db.queries import catalogue as catalogue_queries
from db.queries import committees as committee_queries
from db.queries import places as place_queries
from db.queries import tickets as ticket_queries
from resolvers.actor import PUBLIC, Actor
from resolvers.notifications import EventSource, UrlVerifier
from resolvers.photos import MediaAccess, visible_photos
from resolvers.push import PushEndpoints
from schema.request_ids import request_id_or_new

Fetch = Callable[[AsyncConnection[Any], Sequence[Any]], Awaitable[Sequence[Any]]]


def _one_each(db: Database, fetch: Fetch, key: str) -> DataLoader[Any, Any]:
    async def load(keys: list[Any]) -> list[Any]:
        async with db.connection() as conn:
            rows = await fetch(conn, keys)
        found = {getattr(r, key): r for r in rows}
        return [found.get(k) for k in keys]

    return DataLoader(load_fn=load)


def _many_each(db: Database, fetch: Fetch, key: str) -> DataLoader[Any, list[Any]]:
    async def load(keys: list[Any]) -> list[list[Any]]:
        async with db.connection() as conn:
            rows = await fetch(conn, keys)
        grouped: dict[Any, list[Any]] = defaultdict(list)
        for r in rows:
            grouped[getattr(r, key)].append(r)
        return [grouped.get(k, []) for k in keys]

    return DataLoader(load_fn=load)


def _places(table: str, column: str) -> Fetch:
    async def fetch(conn: AsyncConnection[Any], keys: Sequence[Any]) -> Sequence[Any]:
        return await place_queries.places_by_key(conn, table, column, keys)

    return fetch


async def _demand_items(conn: AsyncConnection[Any], codes: Sequence[Any]) -> Sequence[Any]:
    return await catalogue_queries.demand_items(conn, codes=codes)


def _lazy(make: Callable[[Database], DataLoader[Any, Any]]) -> cached_property[DataLoader[Any, Any]]:
    """A loader of `Loaders`, made on first use."""
    return cached_property(lambda self: make(self.db))


class Loaders:
    """DataLoaders of one request: each batches its keys into one SQL statement. Each is made
    on first use: a request needs few of them (making all 12 cost 4 % of a Q2 request)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._geometry: dict[str, DataLoader[str, str | None]] = {}

    street = _lazy(lambda db: _one_each(db, _places("streets", "code"), "code"))
    zone = _lazy(lambda db: _one_each(db, _places("zones", "code"), "code"))
    community = _lazy(lambda db: _one_each(db, _places("communities", "code"), "code"))
    compound = _lazy(lambda db: _one_each(db, _places("compounds", "code"), "code"))
    cell = _lazy(lambda db: _one_each(db, _places("grid_cells", "code"), "code"))
    building = _lazy(lambda db: _one_each(db, _places("buildings", "code"), "code"))
    buildings_by_compound = _lazy(lambda db: _many_each(
        db, _places("buildings", "compound_code"), "compound_code"))
    facility = _lazy(lambda db: _one_each(db, _places("facilities", "code"), "code"))
    unit = _lazy(lambda db: _one_each(db, place_queries.units_by_code, "code"))
    communities_by_zone = _lazy(lambda db: _many_each(
        db, _places("communities", "zone_code"), "zone_code"))
    compounds_by_community = _lazy(lambda db: _many_each(
        db, _places("compounds", "community_code"), "community_code"))
    cells_by_community = _lazy(lambda db: _many_each(
        db, _places("grid_cells", "community_code"), "community_code"))
    events = _lazy(lambda db: _many_each(db, ticket_queries.events_by_ticket, "ticket_id"))
    zone_staff = _lazy(lambda db: _many_each(db, place_queries.zone_staff, "zone_code"))
    cooperating_units = _lazy(lambda db: _many_each(
        db, catalogue_queries.cooperating_units, "ticket_id"))
    demand_category = _lazy(lambda db: _one_each(
        db, catalogue_queries.demand_categories, "code"))
    demand_item = _lazy(lambda db: _one_each(db, _demand_items, "code"))
    owners_committee = _lazy(lambda db: _one_each(
        db, committee_queries.sitting_committees, "compound_code"))
    committee_members = _lazy(lambda db: _many_each(
        db, committee_queries.members, "committee_id"))

    def geometry(self, table: str) -> DataLoader[str, str | None]:
        """GeoJSON text of places of one table, by code."""
        if table not in self._geometry:
            db = self.db

            async def load(codes: list[str]) -> list[str | None]:
                async with db.connection() as conn:
                    found = await place_queries.geometries(conn, table, codes)
                return [found.get(c) for c in codes]

            self._geometry[table] = DataLoader(load_fn=load)
        return self._geometry[table]


@dataclass
class Context:
    """What every resolver sees as `info.context`."""

    db: Database
    actor: Actor = PUBLIC
    request: Any = None
    response: Any = None
    # The HTTP request's id (X-Request-Id), or the websocket connection's.
    request_id: str = field(default_factory=request_id_or_new)
    # Operations started on this websocket so far (for their request ids).
    operations: int = 0
    # When the caller's token expires (epoch seconds): long-lived websockets end there.
    expires_at: float | None = None
    # The process's live ticket events (an EventSource) and the webhook handshake's
    # challenger, handed in by the web layer; None where none runs (scripts, some tests).
    live: EventSource | None = None
    webhook_verifier: UrlVerifier | None = None
    # Where ticket photos are stored and how their URLs are signed (resolvers/photos.py).
    media: MediaAccess | None = None
    # How push endpoints are accepted; None where the server sends no push (no VAPID key).
    push: PushEndpoints | None = None
    # Notices for the answer's `extensions.notices` (schema/notices.py), per operation.
    notices: list[dict[str, Any]] = field(default_factory=list)

    def for_operation(self) -> Context:
        """A context for one operation of a long-lived connection (a websocket): the same
        caller, its own request id (`<connection id>.<n>`), and none of the per-request state
        (loaders, the personal-data recorder) of the connection's other operations."""
        self.operations += 1
        return replace(self, request_id=f"{self.request_id}.{self.operations}", operations=0,
                       notices=[])

    @cached_property
    def photos(self) -> DataLoader[int, list[Any]]:
        """Photos by ticket id, of the tickets this caller may see (none for the public)."""
        db, actor = self.db, self.actor

        async def fetch(conn: AsyncConnection[Any], ids: Sequence[Any]) -> Sequence[Any]:
            return await visible_photos(conn, actor, ids)

        return _many_each(db, fetch, "ticket_id")

    @cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most requests near a point need none."""
        return Loaders(self.db)
