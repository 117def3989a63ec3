"""GeoJSON features of the catalogue's layers, built by PostGIS as text.

Every way out that hands out whole features (OGC API Features, GraphQL `layer`) comes here,
so they draw the same rows as `db/queries/layers.py` describes them. The JSON is made by
`json_build_object` / `ST_AsGeoJSON` and cast to text, so it crosses psycopg untouched.
Statements are composed with `psycopg.sql`: property names as identifiers and literals, the
catalogue's expressions (`db/queries/layers.py`, fixed in code) as SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from db.queries.disclosure import SQUARE_M
from db.queries.layers import PUBLIC_VIEW, Layer, TicketView
from db.queries.patrols import PatrolWeek
from geo.types import BBox

# Coordinates to 7 decimals: 1 cm on the ground, as the geometry fields give them.
DECIMALS = 7
_ENVELOPE = sql.SQL("ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)")
# A ticket counted into a square lies within 71 m (half the 100 m square's diagonal) of the
# square's centre; the indexed metric column is tested against the box grown by more than
# that, so every square whose centre is in the box is counted whole.
_TICKET_MARGIN_M = 150
_TICKET_REACH = sql.SQL("t.geom_metric && ST_Expand(ST_Transform({}, 4549), {})").format(
    _ENVELOPE, sql.Literal(_TICKET_MARGIN_M))


@dataclass(frozen=True)
class FeatureQuery:
    """Which features of one layer: a caller's view of tickets, a box, a datum, a page or one id.

    `crs` is 'WGS84', 'GCJ02' or 'BD09'; `limit` None means every feature. A page starts
    after the sort key `after` (keyset paging) when given, else after `offset` features.
    A weekly layer (patrol coverage) is drawn for `week`.
    """

    layer: Layer
    view: TicketView = PUBLIC_VIEW
    bbox: BBox | None = None
    crs: str = "WGS84"
    limit: int | None = None
    offset: int = 0
    after: int | str | None = None
    feature_id: str | None = None
    week: PatrolWeek | None = None


@dataclass(frozen=True)
class FeaturePage:
    """Features as the text of a JSON array, how many there are, how many match, and the
    sort key of the last one."""

    features: str
    returned: int
    matched: int
    last_key: int | str | None = None


def _ticket_reach(q: FeatureQuery) -> tuple[sql.Composable, dict[str, Any]]:
    """A condition on tickets `t` (the indexed metric column) keeping those that can be drawn
    in the query's box, and the box's parameters."""
    if q.bbox is None:
        return sql.SQL("TRUE"), {}
    params = {"west": q.bbox.west, "south": q.bbox.south, "east": q.bbox.east,
              "north": q.bbox.north}
    if not q.layer.is_tickets:
        return sql.SQL("TRUE"), params
    return _TICKET_REACH, params


async def ticket_records(conn: AsyncConnection[Any], q: FeatureQuery, at_most: int) -> int:
    """How many tickets the query draws as records (within reach of its box), counting no
    further than `at_most`."""
    if q.view.records is None:
        return 0
    reach, params = _ticket_reach(q)
    precise, scope_params = q.view.records.clause("t")
    query = sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM tickets t WHERE ({}) AND {} "
                    "LIMIT %(at_most)s) x").format(sql.SQL(precise), reach)
    row = await (await conn.execute(query, {**params, **scope_params,
                                            "at_most": at_most})).fetchone()
    return 0 if row is None else int(row.n)


def _rows(q: FeatureQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """`SELECT id, <properties>, g FROM ... WHERE ...` for the query, unordered and uncut."""
    layer = q.layer
    geom = sql.SQL(layer.geom)
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    inner, params = _ticket_reach(q)
    if q.bbox is not None:
        # Tested on the geometry the caller is shown, so a box cannot locate a ticket counted
        # into a square more precisely than its square.
        where.append(sql.SQL("ST_Intersects({}, {})").format(geom, _ENVELOPE))
    if q.feature_id is not None:
        where.append(sql.SQL("{}::text = %(feature_id)s").format(sql.SQL(layer.key)))
        params["feature_id"] = q.feature_id
        if layer.is_tickets:
            inner, more = _one_ticket_feature(q.feature_id)
            params.update(more)
    cells = "TRUE" if q.bbox is None else sql.SQL("g.geom && {}").format(_ENVELOPE).as_string()
    source, params = layer.from_clause(q.view, inner.as_string(), params, q.week, cells)
    query = sql.SQL("SELECT {}, {} AS g, {} AS sort_key {} WHERE {}").format(
        sql.SQL(layer.select_list()), geom, sql.SQL(layer.order), sql.SQL(source),
        sql.SQL(" AND ").join(where))
    return query, params


_IN_SQUARE = sql.SQL("t.geom_metric && ST_MakeEnvelope(%(sq_x)s, %(sq_y)s, %(sq_x)s + {side}, "
                     "%(sq_y)s + {side}, 4549)").format(side=sql.Literal(SQUARE_M))


def _one_ticket_feature(feature_id: str) -> tuple[sql.Composable, dict[str, Any]]:
    """A condition on tickets `t` that keeps what the ticket feature `feature_id` is made of:
    the ticket of that code, or the tickets of the square `square-<ix>-<iy>`."""
    parts = feature_id.split("-")
    if len(parts) == 3 and parts[0] == "square" and all(p.isdigit() for p in parts[1:]):
        ix, iy = int(parts[1]), int(parts[2])
        return _IN_SQUARE, {"sq_x": ix * SQUARE_M, "sq_y": iy * SQUARE_M}
    return sql.SQL("t.code = %(feature_id)s"), {}


def _feature(q: FeatureQuery, alias: str) -> tuple[sql.Composed, dict[str, Any]]:
    """A SQL json expression for one feature of row `alias`."""
    geom: sql.Composable = sql.Identifier(alias, "g")
    params: dict[str, Any] = {}
    if q.crs != "WGS84":
        geom = sql.SQL("redgrid_to_datum({}, %(crs)s)").format(geom)
        params["crs"] = q.crs
    props = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(name), sql.Identifier(alias, name))
                               for name, _ in q.layer.properties)
    return sql.SQL("json_build_object('type', 'Feature', 'id', {}, "
                   "'geometry', ST_AsGeoJSON({}, {})::json, "
                   "'properties', json_build_object({}))").format(
                       sql.Identifier(alias, "id"), geom, sql.Literal(DECIMALS), props), params


def _page_sql(q: FeatureQuery) -> tuple[sql.Composed, dict[str, Any]]:
    rows, params = _rows(q)
    feature, more = _feature(q, "p")
    params.update(more)
    cut, after = sql.SQL(""), sql.SQL("")
    if q.after is not None:
        after = sql.SQL("WHERE sort_key > %(after)s")
        params["after"] = q.after
    if q.limit is not None:
        cut = sql.SQL("LIMIT %(limit)s" if q.after is not None
                      else "LIMIT %(limit)s OFFSET %(offset)s")
        params.update(limit=q.limit, offset=q.offset)
    query = sql.SQL(
        "WITH matched AS MATERIALIZED ({rows}), "
        "page AS (SELECT * FROM matched {after} ORDER BY sort_key {cut}) "
        "SELECT coalesce(json_agg({feature} ORDER BY p.sort_key), '[]')::text AS features, "
        "count(*) AS returned, (SELECT count(*) FROM matched) AS matched, "
        "max(p.sort_key) AS last_key FROM page p").format(
            rows=rows, after=after, cut=cut, feature=feature)
    return query, params


async def feature_page(conn: AsyncConnection[Any], q: FeatureQuery) -> FeaturePage:
    """A page of features in the layer's stable order, the number that match, and the sort
    key of the page's last feature (for the next page's `after`)."""
    query, params = _page_sql(q)
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return FeaturePage(features=row.features, returned=row.returned, matched=row.matched,
                       last_key=row.last_key)


async def feature_collection(conn: AsyncConnection[Any], q: FeatureQuery) -> str:
    """The text of a GeoJSON FeatureCollection of every feature the query selects."""
    rows, params = _rows(q)
    feature, more = _feature(q, "p")
    params.update(more)
    query = sql.SQL("SELECT json_build_object('type', 'FeatureCollection', 'features', "
                    "coalesce(json_agg({} ORDER BY p.sort_key), '[]'))::text AS fc "
                    "FROM ({}) p").format(feature, rows)
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    text: str = row.fc
    return text


async def feature(conn: AsyncConnection[Any], q: FeatureQuery) -> str | None:
    """The text of the one GeoJSON Feature `q.feature_id` names, or None."""
    rows, params = _rows(q)
    feature_sql, more = _feature(q, "p")
    params.update(more)
    query = sql.SQL("SELECT ({})::text AS feature FROM ({}) p LIMIT 1").format(feature_sql, rows)
    row = await (await conn.execute(query, params)).fetchone()
    return None if row is None else str(row.feature)


async def places_version(conn: AsyncConnection[Any],
                         tables: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """A cheap version of these tables' rows: per table its row count and newest inserting or
    updating transaction (`xmin`), so an insert, update or delete — an import, a seed — gives
    a new value. One scan of each small place table, no geometry read."""
    parts = [sql.SQL("SELECT {}::text AS t, count(*), coalesce(max(xmin::text::bigint), 0) "
                     "FROM {}").format(sql.Literal(t), sql.Identifier(t)) for t in tables]
    query = sql.SQL(" UNION ALL ").join(parts)
    rows = await (await conn.execute(query)).fetchall()
    by_table = {row[0]: (int(row[1]), int(row[2])) for row in rows}
    return tuple(by_table[t] for t in tables)


async def extent(conn: AsyncConnection[Any],
                 layer: Layer) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of a place layer's geometries (not tickets: their extent
    would locate the outermost reports)."""
    source, params = layer.from_clause()
    query = sql.SQL("SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n "
                    "FROM (SELECT ST_Extent({}) AS e {}) x").format(sql.SQL(layer.geom),
                                                                 sql.SQL(source))
    row = await (await conn.execute(query, params)).fetchone()
    if row is None or row.w is None:
        return None
    return (float(row.w), float(row.s), float(row.e), float(row.n))
