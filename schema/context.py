"""The per-request context: the database, a request id and DataLoaders built for this request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, overload

from strawberry.dataloader import DataLoader

from resolvers import loaders as batch
from resolvers.actor import PUBLIC, Actor
from resolvers.loaders import Batch, Database
from resolvers.notifications import EventSource, UrlVerifier
from resolvers.photos import MediaAccess
from resolvers.push import PushEndpoints
from resolvers.request_ids import request_id_or_new


class _Lazy:
    """A loader of `Loaders` over a batch function of resolvers/loaders.py, made on first use
    and kept on the instance, as `functools.cached_property` would, without its lock: Python
    3.11's takes one at every first use (a ticket with its relations makes 10 loaders), and
    a request's loaders live on one event loop."""

    def __init__(self, make: Callable[[Database], Batch]) -> None:
        self.make = make
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, loaders: None, owner: type) -> _Lazy: ...

    @overload
    def __get__(self, loaders: Loaders, owner: type) -> DataLoader[Any, Any]: ...

    def __get__(self, loaders: Loaders | None, owner: type) -> Any:
        if loaders is None:
            return self
        made = loaders.__dict__[self.name] = DataLoader(load_fn=self.make(loaders.db))
        return made


class Loaders:
    """DataLoaders of one request: each batches its keys into one SQL statement. Each is made
    on first use: a request needs few of them (making all 12 cost 4 % of a Q2 request)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._geometry: dict[str, DataLoader[str, str | None]] = {}

    street = _Lazy(lambda db: batch.place(db, "streets"))
    zone = _Lazy(lambda db: batch.place(db, "zones"))
    community = _Lazy(lambda db: batch.place(db, "communities"))
    compound = _Lazy(lambda db: batch.place(db, "compounds"))
    cell = _Lazy(lambda db: batch.place(db, "grid_cells"))
    building = _Lazy(lambda db: batch.place(db, "buildings"))
    buildings_by_compound = _Lazy(lambda db: batch.places_in(db, "buildings", "compound_code"))
    facility = _Lazy(lambda db: batch.place(db, "facilities"))
    unit = _Lazy(batch.units)
    communities_by_zone = _Lazy(lambda db: batch.places_in(db, "communities", "zone_code"))
    compounds_by_community = _Lazy(lambda db: batch.places_in(db, "compounds", "community_code"))
    cells_by_community = _Lazy(lambda db: batch.places_in(db, "grid_cells", "community_code"))
    events = _Lazy(batch.ticket_events)
    zone_staff = _Lazy(batch.zone_staff)
    cooperating_units = _Lazy(batch.cooperating_units)
    demand_category = _Lazy(batch.demand_categories)
    demand_item = _Lazy(batch.demand_items)
    owners_committee = _Lazy(batch.owners_committees)
    committee_members = _Lazy(batch.committee_members)

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
