"""Whole map layers as GeoJSON, for GraphQL `layer` and OGC API Features.

The caller decides only one thing: which tickets 工单 they see exactly (their ticket scope);
every other ticket comes generalised, as the catalogue in `db/queries/layers.py` rules.
"""

from __future__ import annotations

from db.database import Database
from db.queries import features as queries
from db.queries.features import FeaturePage, FeatureQuery
from db.queries.layers import LAYERS, Layer
from db.queries.ticket_scope import TicketScope
from geo.types import BBox, Crs
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode
from resolvers.tickets import ticket_scope

Extent = tuple[float, float, float, float]


def layer_of(name: str, *, field: str = "name") -> Layer:
    """The catalogue's layer called `name`; NOT_FOUND names the known layers."""
    found = LAYERS.get(name)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND,
                          f"no layer {name!r}; layers are {', '.join(LAYERS)}", field)
    return found


def exact_scope(actor: Actor) -> TicketScope | None:
    """The tickets a caller sees exactly; None for callers who see only generalised points."""
    try:
        return ticket_scope(actor)
    except DomainError as exc:
        if exc.code is ErrorCode.FORBIDDEN:
            return None
        raise


async def layer_geojson(db: Database, actor: Actor, name: str, *, bbox: BBox | None = None,
                        crs: Crs = Crs.WGS84) -> str:
    """The text of a FeatureCollection of the layer's features intersecting `bbox`."""
    q = FeatureQuery(layer_of(name), exact_scope(actor), bbox=bbox, crs=Crs(crs).value)
    async with db.connection() as conn:
        return await queries.feature_collection(conn, q)


async def feature_page(db: Database, actor: Actor, layer: Layer, *, bbox: BBox | None,
                       limit: int, offset: int) -> FeaturePage:
    q = FeatureQuery(layer, exact_scope(actor), bbox=bbox, limit=limit, offset=offset)
    async with db.connection() as conn:
        return await queries.feature_page(conn, q)


async def feature(db: Database, actor: Actor, layer: Layer, feature_id: str) -> str | None:
    q = FeatureQuery(layer, exact_scope(actor), feature_id=feature_id)
    async with db.connection() as conn:
        return await queries.feature(conn, q)


async def extents(db: Database) -> dict[str, Extent | None]:
    """The extent of every layer as the public sees it, so it is the same for every caller."""
    async with db.connection() as conn:
        return {name: await queries.extent(conn, layer, None) for name, layer in LAYERS.items()}


def not_found(layer: Layer, feature_id: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND,
                       f"no feature {feature_id!r} in {layer.name}", "featureId")
