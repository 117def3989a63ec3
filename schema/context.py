"""The per-request context: the database, a request id and DataLoaders built for this request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader

from resolvers import loaders as batch
from resolvers.actor import PUBLIC, Actor
from resolvers.loaders import Batch, Database
from resolvers.notifications import EventSource, UrlVerifier
from resolvers.photos import MediaAccess
from resolvers.push import PushEndpoints
from schema.request_ids import request_id_or_new


def _lazy(make: Callable[[Database], Batch]) -> cached_property[DataLoader[Any, Any]]:
    """A loader of `Loaders` over a batch function of resolvers/loaders.py, made on first use."""
    return cached_property(lambda self: DataLoader(load_fn=make(self.db)))


class Loaders:
    """DataLoaders of one request: each batches its keys into one SQL statement. Each is made
    on first use: a request needs few of them (making all 12 cost 4 % of a Q2 request)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._geometry: dict[str, DataLoader[str, str | None]] = {}

    street = _lazy(lambda db: batch.place(db, "streets"))
    zone = _lazy(lambda db: batch.place(db, "zones"))
    community = _lazy(lambda db: batch.place(db, "communities"))
    compound = _lazy(lambda db: batch.place(db, "compounds"))
    cell = _lazy(lambda db: batch.place(db, "grid_cells"))
    building = _lazy(lambda db: batch.place(db, "buildings"))
    buildings_by_compound = _lazy(lambda db: batch.places_in(db, "buildings", "compound_code"))
    facility = _lazy(lambda db: batch.place(db, "facilities"))
    unit = _lazy(batch.units)
    communities_by_zone = _lazy(lambda db: batch.places_in(db, "communities", "zone_code"))
    compounds_by_community = _lazy(lambda db: batch.places_in(db, "compounds", "community_code"))
    cells_by_community = _lazy(lambda db: batch.places_in(db, "grid_cells", "community_code"))
    events = _lazy(batch.ticket_events)
    zone_staff = _lazy(batch.zone_staff)
    cooperating_units = _lazy(batch.cooperating_units)
    demand_category = _lazy(batch.demand_categories)
    demand_item = _lazy(batch.demand_items)
    owners_committee = _lazy(batch.owners_committees)
    committee_members = _lazy(batch.committee_members)

    def geometry(self, table: str) -> DataLoader[str, str | None]:
        """GeoJSON text of places of one table, by code."""
        if table not in self._geometry:
            self._geometry[table] = DataLoader(load_fn=batch.geometries(self.db, table))
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
        return DataLoader(load_fn=batch.photos(self.db, self.actor))

    @cached_property
    def loaders(self) -> Loaders:
        """Made on first use: most requests near a point need none."""
        return Loaders(self.db)
