"""Planner analytics in PostGIS: each compound's nearest open facility, candidate sites and the
candidate–demand table of site selection, community adjacency, and ticket aggregates by area.

Metric work ranks and filters on the GiST-indexed EPSG:4549 points (`compounds.center_metric`,
`facilities.geom_metric`); geodesic metres are computed for the rows returned only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from db.vocabulary import TIME_ZONE
from geo.types import SRID_METRIC, LonLat

# How many nearest sites by projected distance are measured on the ellipsoid: the projection's
# scale error here (about 0.2 m per km) can only swap sites within a few centimetres.
KNN_MEASURED = 4
# The projected prefilter radius for a geodesic radius: wide enough for the scale error.
PREFILTER = sql.SQL("%(radius)s * 1.001 + 1")
# Within this projected distance a pair is within the geodesic radius whatever the scale error
# (the Gauss-Krüger scale is at least 1, so projected metres never fall short of geodesic
# ones): only pairs between the two are measured on the ellipsoid.
WITHIN = sql.SQL("%(radius)s * 0.999 - 1")

_POINTS = sql.SQL("""
SELECT ord::int - 1 AS idx, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g,
       ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), {metric}) AS gm
FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS p(lon, lat, ord)
""").format(metric=sql.Literal(SRID_METRIC))


def _arrays(points: Sequence[LonLat]) -> dict[str, list[float]]:
    return {"lons": [p.lon for p in points], "lats": [p.lat for p in points]}


# Every compound with its area's names and its weights.
_DEMAND_COLUMNS = sql.SQL("""c.code, c.name, c.community_code, m.name AS community_name,
       m.zone_code, z.name AS zone_name, m.street_code, s.name AS street_name, c.households,
       c.population, c.elderly, c.children""")
_DEMAND_FROM = sql.SQL("""FROM compounds c
JOIN communities m ON m.code = c.community_code
JOIN zones z ON z.code = m.zone_code
JOIN streets s ON s.code = m.street_code""")

_REACH = sql.SQL("""
WITH added AS MATERIALIZED ({points})
SELECT {columns}, n.code AS nearest_code, n.idx AS nearest_added, n.distance_m
{compounds}
LEFT JOIN LATERAL (
    SELECT k.code, k.idx, ST_Distance(k.g::geography, ST_PointOnSurface(c.geom)::geography)
               AS distance_m
    FROM ((SELECT f.code, NULL::int AS idx, f.geom AS g FROM facilities f
           WHERE f.kind = %(kind)s AND f.code <> ALL(%(removed)s)
           ORDER BY f.geom_metric <-> c.center_metric LIMIT {knn})
          UNION ALL
          (SELECT NULL, a.idx, a.g FROM added a
           ORDER BY a.gm <-> c.center_metric LIMIT {knn})) k
    ORDER BY distance_m, k.code NULLS LAST, k.idx
    LIMIT 1
) n ON TRUE
ORDER BY c.code
""").format(points=_POINTS, columns=_DEMAND_COLUMNS, compounds=_DEMAND_FROM,
            knn=sql.Literal(KNN_MEASURED))

# The same rows without the nearest site, for a plan that keeps no facility of today's.
_DEMAND = sql.SQL("""
SELECT {columns}, NULL::text AS nearest_code, NULL::int AS nearest_added,
       NULL::float8 AS distance_m
{compounds}
ORDER BY c.code
""").format(columns=_DEMAND_COLUMNS, compounds=_DEMAND_FROM)


async def reach(conn: AsyncConnection[Any], kind: str, *, added: Sequence[LonLat] = (),
                removed: Sequence[str] = ()) -> list[Any]:
    """Every compound with its area, weights and nearest open site of a kind (a facility
    unless `removed`, or one of the `added` points by index) in geodesic metres from its
    centre; no site at all gives nulls."""
    params = {"kind": kind, "removed": list(removed), **_arrays(added)}
    return await (await conn.execute(_REACH, params)).fetchall()


async def demand(conn: AsyncConnection[Any]) -> list[Any]:
    """The rows of `reach` without a nearest site (nulls): every compound, its area and its
    weights, when no facility of today's is counted."""
    return await (await conn.execute(_DEMAND)).fetchall()


async def outside_county(conn: AsyncConnection[Any], points: Sequence[LonLat]) -> list[int]:
    """Indices of the points that no community contains."""
    query = sql.SQL("SELECT p.idx FROM ({}) p WHERE NOT EXISTS (SELECT 1 FROM communities m "
                    "WHERE ST_Intersects(m.geom, p.g)) ORDER BY p.idx").format(_POINTS)
    return [r.idx for r in await (await conn.execute(query, _arrays(points))).fetchall()]


async def facility_codes(conn: AsyncConnection[Any], kind: str, codes: Sequence[str]) -> set[str]:
    """Which of `codes` are facilities of the kind."""
    cur = await conn.execute("SELECT code FROM facilities WHERE kind = %(kind)s "
                             "AND code = ANY(%(codes)s)", {"kind": kind, "codes": list(codes)})
    return {r.code for r in await cur.fetchall()}


# Candidate sites of each set, in a stable order: lon/lat, and what the site is.
CANDIDATES: dict[str, sql.SQL] = {k: sql.SQL(v) for k, v in {
    "COMPOUND_CENTERS": "SELECT code AS compound_code, NULL::text AS room_code, "
                        "ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
                        "FROM compounds ORDER BY code",
    "GRID_CELL_CENTERS": "SELECT NULL::text AS compound_code, NULL::text AS room_code, "
                         "ST_X(ST_PointOnSurface(geom)) AS lon, "
                         "ST_Y(ST_PointOnSurface(geom)) AS lat FROM grid_cells ORDER BY code",
    # Idle service rooms 社服用房 are the natural candidate sites.
    "SERVICE_ROOMS": "SELECT compound_code, code AS room_code, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                     "FROM facilities WHERE kind = 'SERVICE_ROOM' AND status = 'IDLE' ORDER BY code",
}.items()}


async def candidates(conn: AsyncConnection[Any], candidate_set: str) -> list[Any]:
    return await (await conn.execute(CANDIDATES[candidate_set])).fetchall()


_CANDIDATE_DEMAND = sql.SQL("""
WITH cand AS MATERIALIZED ({points})
SELECT cand.idx AS candidate, c.code AS compound_code
FROM cand JOIN compounds c ON ST_DWithin(c.center_metric, cand.gm, {prefilter})
WHERE ST_DWithin(c.center_metric, cand.gm, {within})
   OR ST_Distance(cand.g::geography, ST_PointOnSurface(c.geom)::geography) <= %(radius)s
ORDER BY cand.idx, c.code
""").format(points=_POINTS, prefilter=PREFILTER, within=WITHIN)


async def candidate_demand(conn: AsyncConnection[Any], sites: Sequence[LonLat],
                           radius_m: float) -> list[Any]:
    """The candidate–demand table: (candidate index, compound code) for each compound whose
    centre lies within `radius_m` geodesic metres of the candidate."""
    params = {"radius": radius_m, **_arrays(sites)}
    return await (await conn.execute(_CANDIDATE_DEMAND, params)).fetchall()


_COMMUNITIES = """
SELECT m.code, m.population,
       ST_X(ST_Centroid(m.geom)) AS lon, ST_Y(ST_Centroid(m.geom)) AS lat,
       ARRAY(SELECT o.code FROM communities o
             WHERE o.code <> m.code AND ST_Intersects(o.geom, m.geom)
               AND ST_Dimension(ST_Intersection(o.geom, m.geom)) = 1
             ORDER BY o.code) AS neighbours
FROM communities m ORDER BY m.code
"""


async def communities_with_neighbours(conn: AsyncConnection[Any]) -> list[Any]:
    """Each community with its population, centroid and the communities sharing a border with
    it (a common edge, not a corner)."""
    return await (await conn.execute(_COMMUNITIES)).fetchall()


async def pairwise_metres(conn: AsyncConnection[Any], points: Sequence[LonLat]) -> list[Any]:
    """Geodesic metres between every two of the points (i < j)."""
    query = sql.SQL("WITH p AS MATERIALIZED ({}) SELECT a.idx AS i, b.idx AS j, "
                    "ST_Distance(a.g::geography, b.g::geography) AS metres "
                    "FROM p a JOIN p b ON a.idx < b.idx").format(_POINTS)
    return await (await conn.execute(query, _arrays(points))).fetchall()


async def venue(conn: AsyncConnection[Any], communities: Sequence[str], point: LonLat) -> Any:
    """The compound of the communities whose centre is nearest a point."""
    query = sql.SQL("SELECT code FROM compounds WHERE community_code = ANY(%(codes)s) "
                    "ORDER BY center_metric <-> ST_Transform(ST_SetSRID("
                    "ST_MakePoint(%(lon)s, %(lat)s), 4326), {}), code LIMIT 1").format(
                        sql.Literal(SRID_METRIC))
    cur = await conn.execute(query, {"codes": list(communities), "lon": point.lon,
                                     "lat": point.lat})
    return await cur.fetchone()


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive


# Area columns of tickets by level of aggregation.
COUNTY_CODE = "371329"
AREA_COLUMNS: dict[str, sql.Composable] = {
    "COMMUNITY": sql.Identifier("community_code"), "ZONE": sql.Identifier("zone_code"),
    "STREET": sql.Identifier("street_code"),
    "COUNTY": sql.SQL("{}::text").format(sql.Literal(COUNTY_CODE)),
}
AREA_NAMES = {"COMMUNITY": "communities", "ZONE": "zones", "STREET": "streets"}
BREAKDOWN_COLUMNS = {"channel": "channel", "item": "item_code"}

_AREA_TOTALS = sql.SQL("""
SELECT {area} AS code, count(*) AS tickets,
       count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolved,
       count(*) FILTER (WHERE resolved_at IS NOT NULL AND resolved_at <= due_at) AS on_time,
       avg(extract(epoch FROM resolved_at - created_at) / 3600.0)
           FILTER (WHERE resolved_at IS NOT NULL) AS handling_hours,
       count(rating) AS rated, avg(rating)::float AS rating
FROM tickets WHERE created_at >= %(start)s AND created_at < %(end)s AND {where}
GROUP BY 1
""")
_AREA_VOLUMES = sql.SQL("""
SELECT {area} AS code, count(*) AS tickets
FROM tickets WHERE created_at >= %(start)s AND created_at < %(end)s AND {where} GROUP BY 1
""")
_AREA_BY = sql.SQL("""
SELECT {area} AS code, {column} AS key, count(*) AS tickets
FROM tickets WHERE created_at >= %(start)s AND created_at < %(end)s AND {where} GROUP BY 1, 2
""")
_AREA_MONTHS = sql.SQL("""
SELECT {area} AS code,
       to_char(date_trunc('month', created_at AT TIME ZONE {zone}), 'YYYY-MM') AS key,
       count(*) AS tickets
FROM tickets WHERE created_at >= %(start)s AND created_at < %(end)s AND {where} GROUP BY 1, 2
""")


def _area_sql(template: sql.SQL, level: str, code: str | None,
              **extra: sql.Composable) -> sql.Composed:
    area = AREA_COLUMNS[level]
    where = sql.SQL("{} = %(code)s").format(area) if code is not None else sql.SQL("TRUE")
    return template.format(area=area, where=where, **extra)


async def area_totals(conn: AsyncConnection[Any], level: str, period: Period,
                      code: str | None) -> list[Any]:
    """Per area: tickets created in the period, resolved, resolved by the deadline, mean
    hours to resolution, rated tickets and their mean rating."""
    params = {"start": period.start, "end": period.end, "code": code}
    return await (await conn.execute(_area_sql(_AREA_TOTALS, level, code), params)).fetchall()


async def area_volumes(conn: AsyncConnection[Any], level: str, period: Period,
                       code: str | None) -> dict[str, int]:
    params = {"start": period.start, "end": period.end, "code": code}
    cur = await conn.execute(_area_sql(_AREA_VOLUMES, level, code), params)
    return {r.code: r.tickets for r in await cur.fetchall()}


async def area_breakdown(conn: AsyncConnection[Any], level: str, period: Period,
                         code: str | None, by: str) -> list[Any]:
    """Per area and channel, item or month (Asia/Shanghai) of creation: the ticket count."""
    params = {"start": period.start, "end": period.end, "code": code}
    if by == "month":
        query = _area_sql(_AREA_MONTHS, level, code, zone=sql.Literal(TIME_ZONE))
    else:
        query = _area_sql(_AREA_BY, level, code, column=sql.Identifier(BREAKDOWN_COLUMNS[by]))
    return await (await conn.execute(query, params)).fetchall()


async def area_names(conn: AsyncConnection[Any], level: str,
                     code: str | None) -> dict[str, tuple[str, str]]:
    """Per area of a level (one, when `code` is given): its name and the code a caller's scope
    must cover (a zone's street)."""
    if level == "COUNTY":
        return {COUNTY_CODE: ("临沭县", COUNTY_CODE)} if code in (None, COUNTY_CODE) else {}
    scope = "street_code" if level == "ZONE" else "code"
    query = sql.SQL("SELECT code, name, {} AS scope FROM {} "
                    "WHERE %(code)s::text IS NULL OR code = %(code)s ORDER BY code").format(
                        sql.Identifier(scope), sql.Identifier(AREA_NAMES[level]))
    cur = await conn.execute(query, {"code": code})
    return {r.code: (r.name, r.scope) for r in await cur.fetchall()}


async def item_names(conn: AsyncConnection[Any]) -> dict[str, str]:
    cur = await conn.execute("SELECT code, name_zh FROM demand_items")
    return {r.code: r.name_zh for r in await cur.fetchall()}
