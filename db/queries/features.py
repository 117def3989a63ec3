"""GeoJSON features of the catalogue's layers, built by PostGIS as text.

Every way out that hands out whole features (OGC API Features, GraphQL `layer`) comes here,
so they draw the same rows as `db/queries/layers.py` describes them. The JSON is made by
`json_build_object` / `ST_AsGeoJSON` and cast to text, so it crosses psycopg untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from db.queries.layers import Layer
from db.queries.ticket_scope import TicketScope
from geo.types import BBox

# Coordinates to 7 decimals: 1 cm on the ground, as the geometry fields give them.
DECIMALS = 7
_ENVELOPE = "ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
# A generalised ticket lies within 71 m (half the 100 m square's diagonal) of its point;
# the indexed metric column is tested against the box grown by more than that.
_TICKET_MARGIN_M = 150


@dataclass(frozen=True)
class FeatureQuery:
    """Which features of one layer: a caller's ticket scope, a box, a datum, a page or one id.

    `crs` is 'WGS84', 'GCJ02' or 'BD09'; `limit` None means every feature.
    """

    layer: Layer
    scope: TicketScope | None
    bbox: BBox | None = None
    crs: str = "WGS84"
    limit: int | None = None
    offset: int = 0
    feature_id: str | None = None


@dataclass(frozen=True)
class FeaturePage:
    """Features as the text of a JSON array, how many there are, how many match."""

    features: str
    returned: int
    matched: int


def _rows(q: FeatureQuery) -> tuple[str, dict[str, Any]]:
    """`SELECT id, <properties>, g FROM ... WHERE ...` for the query, unordered and uncut."""
    layer = q.layer
    source, params = layer.from_clause(q.scope)
    where = ["TRUE"]
    if q.bbox is not None:
        # Tested on the geometry the caller is shown, so a box cannot locate a generalised
        # ticket more precisely than its square.
        where.append(f"ST_Intersects({layer.geom}, {_ENVELOPE})")
        if layer.is_tickets:
            where.append(f"f.geom_metric && ST_Expand(ST_Transform({_ENVELOPE}, 4549), "
                         f"{_TICKET_MARGIN_M})")
        params.update(west=q.bbox.west, south=q.bbox.south, east=q.bbox.east,
                      north=q.bbox.north)
    if q.feature_id is not None:
        where.append(f"{layer.key}::text = %(feature_id)s")
        params["feature_id"] = q.feature_id
    sql = (f"SELECT {layer.select_list()}, {layer.geom} AS g, {layer.order} AS sort_key "
           f"{source} WHERE {' AND '.join(where)}")
    return sql, params


def _feature(q: FeatureQuery, alias: str) -> tuple[str, dict[str, Any]]:
    """A SQL json expression for one feature of row `alias`."""
    geom = f"{alias}.g"
    params: dict[str, Any] = {}
    if q.crs != "WGS84":
        geom = f"redgrid_to_datum({geom}, %(crs)s)"
        params["crs"] = q.crs
    props = ", ".join(f"'{name}', {alias}.{name}" for name, _ in q.layer.properties)
    return (f"json_build_object('type', 'Feature', 'id', {alias}.id, "
            f"'geometry', ST_AsGeoJSON({geom}, {DECIMALS})::json, "
            f"'properties', json_build_object({props}))"), params


def _page_sql(q: FeatureQuery) -> tuple[str, dict[str, Any]]:
    rows, params = _rows(q)
    feature, more = _feature(q, "p")
    params.update(more)
    cut = ""
    if q.limit is not None:
        cut = "LIMIT %(limit)s OFFSET %(offset)s"
        params.update(limit=q.limit, offset=q.offset)
    sql = (f"WITH matched AS MATERIALIZED ({rows}), "
           f"page AS (SELECT * FROM matched ORDER BY sort_key {cut}) "
           f"SELECT coalesce(json_agg({feature} ORDER BY p.sort_key), '[]')::text AS features, "
           "count(*) AS returned, (SELECT count(*) FROM matched) AS matched FROM page p")
    return sql, params


async def feature_page(conn: AsyncConnection[Any], q: FeatureQuery) -> FeaturePage:
    """A page of features, in the layer's stable order, with the number that match."""
    sql, params = _page_sql(q)
    row = await (await conn.execute(sql, params)).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return FeaturePage(features=row.features, returned=row.returned, matched=row.matched)


async def feature_collection(conn: AsyncConnection[Any], q: FeatureQuery) -> str:
    """The text of a GeoJSON FeatureCollection of every feature the query selects."""
    rows, params = _rows(q)
    feature, more = _feature(q, "p")
    params.update(more)
    sql = (f"SELECT json_build_object('type', 'FeatureCollection', 'features', "
           f"coalesce(json_agg({feature} ORDER BY p.sort_key), '[]'))::text AS fc "
           f"FROM ({rows}) p")
    row = await (await conn.execute(sql, params)).fetchone()  # type: ignore[arg-type]
    assert row is not None
    text: str = row.fc
    return text


async def feature(conn: AsyncConnection[Any], q: FeatureQuery) -> str | None:
    """The text of the one GeoJSON Feature `q.feature_id` names, or None."""
    rows, params = _rows(q)
    feature_sql, more = _feature(q, "p")
    params.update(more)
    sql = f"SELECT ({feature_sql})::text AS feature FROM ({rows}) p LIMIT 1"
    row = await (await conn.execute(sql, params)).fetchone()  # type: ignore[arg-type]
    return None if row is None else str(row.feature)


async def extent(conn: AsyncConnection[Any], layer: Layer,
                 scope: TicketScope | None) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of the layer's geometries as the caller sees them."""
    source, params = layer.from_clause(scope)
    sql = (f"SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n "
           f"FROM (SELECT ST_Extent({layer.geom}) AS e {source}) x")
    row = await (await conn.execute(sql, params)).fetchone()  # type: ignore[arg-type]
    if row is None or row.w is None:
        return None
    return (float(row.w), float(row.s), float(row.e), float(row.n))
