"""Whole map layers as GeoJSON, for GraphQL `layer` and OGC API Features.

The caller decides two things: how they see tickets 工单, as the disclosure rule
(`resolvers/disclosure.py`) and the catalogue (`db/queries/layers.py`) have it, and whether
and where they see patrol coverage 巡查覆盖, as the policy reads `patrolCoverage`
(`resolvers/patrols.patrol_week`).
"""

from __future__ import annotations

from datetime import date

from db.database import Database
from db.queries import features as queries
from db.queries import tiles as tile_queries
from db.queries.features import FeaturePage, FeatureQuery
from db.queries.layers import LAYERS, Layer, TicketView
from db.queries.patrols import PatrolWeek
from geo.types import BBox, Crs
from resolvers.actor import Actor
from resolvers.disclosure import disclosure
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.patrols import patrol_week

Extent = tuple[float, float, float, float]
# Ticket records one `layer` answer may carry; more are paged through OGC API Features.
MAX_TICKET_RECORDS = 10_000


def layer_of(name: str, *, field: str = "name") -> Layer:
    """The catalogue's layer called `name`; NOT_FOUND names the known layers."""
    found = LAYERS.get(name)
    if found is None:
        raise DomainError(ErrorCode.NOT_FOUND,
                          f"no layer {name!r}; layers are {', '.join(LAYERS)}", field)
    return found


def ticket_view(actor: Actor) -> TicketView:
    """How `actor` sees tickets in layers and tiles."""
    rule = disclosure(actor)
    return TicketView(rule.records, rule.exact_counts)


def week_view(actor: Actor, layer: Layer, day: date | None, field: str) -> PatrolWeek | None:
    """The week a weekly layer is drawn for, as `actor` may see it (FORBIDDEN for roles that
    may not read patrol coverage); a week given for another layer is bad input."""
    if layer.weekly:
        return patrol_week(actor, day, field)
    if day is not None:
        raise bad_input(f"{field} is for the patrol coverage layer only, not {layer.name}", field)
    return None


async def layer_geojson(db: Database, actor: Actor, name: str, *, bbox: BBox | None = None,
                        crs: Crs = Crs.WGS84, week: date | None = None) -> str:
    """The text of a FeatureCollection of the layer's features intersecting `bbox`.

    Without a box the tickets layer is squares only, for every caller: records come only for
    a box, so the answer stays bounded by the county's squares. A box reaching more than
    MAX_TICKET_RECORDS records is refused before they are drawn. Patrol coverage is drawn
    for the week holding `week` (this week when None)."""
    layer = layer_of(name)
    weekly = week_view(actor, layer, week, "weekOf")
    view = ticket_view(actor)
    if layer.is_tickets and bbox is None:
        view = TicketView(None, view.exact_counts)
    q = FeatureQuery(layer, view, bbox=bbox, crs=Crs(crs).value, week=weekly)
    async with db.connection() as conn:
        if layer.is_tickets and await queries.ticket_records(
                conn, q, MAX_TICKET_RECORDS + 1) > MAX_TICKET_RECORDS:
            raise bad_input(f"the box holds more than {MAX_TICKET_RECORDS:,} tickets you see as "
                            "records; use a smaller box, or page through "
                            "/ogc/collections/tickets/items", "bbox")
        return await queries.feature_collection(conn, q)


async def feature_page(db: Database, actor: Actor, layer: Layer, *, bbox: BBox | None,
                       limit: int, offset: int, after: int | str | None = None,
                       week: date | None = None) -> FeaturePage:
    weekly = week_view(actor, layer, week, "week")
    q = FeatureQuery(layer, ticket_view(actor), bbox=bbox, limit=limit, offset=offset,
                     after=after, week=weekly)
    async with db.connection() as conn:
        return await queries.feature_page(conn, q)


async def feature(db: Database, actor: Actor, layer: Layer, feature_id: str,
                  week: date | None = None) -> str | None:
    weekly = week_view(actor, layer, week, "week")
    q = FeatureQuery(layer, ticket_view(actor), feature_id=feature_id, week=weekly)
    async with db.connection() as conn:
        return await queries.feature(conn, q)


async def extents(db: Database) -> dict[str, Extent | None]:
    """The extent of every layer, the same for every caller. Tickets and patrol coverage are
    given the county's extent: the tickets' own would locate the outermost reports."""
    async with db.connection() as conn:
        found = {name: await queries.extent(conn, layer)
                 for name, layer in LAYERS.items() if not layer.per_caller}
        county = await tile_queries.county_bounds(conn)
    return {name: found.get(name, county) for name in LAYERS}


# What the place layers' extents are drawn from: their tables and the streets (the county's
# extent, given to tickets and patrol coverage).
_EXTENT_TABLES = tuple(dict.fromkeys(
    [layer.table for layer in LAYERS.values() if not layer.per_caller] + ["streets"]))


async def places_version(db: Database) -> tuple[tuple[int, int], ...]:
    """Changes whenever a place the extents are drawn from changes (`extents` is kept on it)."""
    async with db.connection() as conn:
        return await queries.places_version(conn, _EXTENT_TABLES)


def not_found(layer: Layer, feature_id: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND,
                       f"no feature {feature_id!r} in {layer.name}", "featureId")
