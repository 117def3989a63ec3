"""The public-sentiment heat map 民情气象图: tickets 工单 per grid cell 网格 or H3 hexagon,
their change against earlier periods, and Getis-Ord Gi* hot and cold spots.

Privacy, as the disclosure rule (`resolvers/disclosure.py`) has it. Where a caller has no exact
counts (the public, residents, and staff outside their scope), they never see a count under
MIN_COUNT (0, 1 or 2 are all shown as withheld) nor a change whose either side is under it
(the month before and the same month a year earlier are whole months too). Callers without
exact counts everywhere (all but planners and the county office) ask for exactly one calendar
month, on H3_8 hexagons only (grid cells and H3_9 are FILTER_NOT_ALLOWED: ticket tiles count
every ticket per grid cell for them, and a hexagon's month minus its children's would give a
withheld child's count), and filter by no category, item
or status, so no two answers differ by a single report. Planners and the county office see
exact counts, on grid cells by default. Gi* itself runs on
the true counts of every cell of the county (never only the box asked for, so a cell's class
does not move as the map pans): a z-score pools a cell with all its neighbours against the
whole county's mean and spread, so it speaks of a neighbourhood, not of a report.
Because an exact z-score is a linear function of the neighbourhood's total, withheld cells
get it rounded to one decimal (p and class follow from the rounded value), and not at all
where the neighbourhood pools fewer than MIN_COUNT tickets: in a sparse period a single
ticket would otherwise light up its own 3x3 block.

Bounded work. The box is clipped to the study area (the county's extent and a margin) before
anything else; the cells Gi* runs over are the county's, built once per server (hexagons
sharing area with the county's streets, never those beyond it); the CPU-heavy steps (H3
covering, Gi*, datum shifts) run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import shapely

from db.database import Database
from db.queries import heatmap as queries
from db.queries.heatmap import Periods, TicketFilter
from db.vocabulary import TICKET_STATUSES
from geo import hexagons
from geo.datum import transform_geojson
from geo.hotspots import HotspotClass, classify, gi_star, p_value
from geo.types import BBox, Crs
from resolvers.actor import Actor
from resolvers.disclosure import (
    GRID_CELL,
    MIN_COUNT,
    Disclosure,
    disclosure,
    months_before,
    whole_months,
)
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import local_time, period_year

MAX_YEARS = 3
# Degrees of margin around the county's extent that a box is clipped to (about 1 km).
STUDY_MARGIN_DEG = 0.01
MAX_H3_CELLS = 5_000
RESOLUTIONS = (GRID_CELL, "H3_8", "H3_9")
STATUSES = frozenset(TICKET_STATUSES)


@dataclass(frozen=True)
class HeatmapArgs:
    bbox: BBox
    start: datetime
    end: datetime
    category_code: str | None = None
    item_code: str | None = None
    statuses: tuple[str, ...] | None = None
    resolution: str | None = None  # None: the caller's default (`Disclosure.heatmap_resolution`)
    crs: Crs = Crs.WGS84
    zone_code: str | None = None


@dataclass(frozen=True)
class HeatCell:
    id: str
    geometry: dict[str, Any]
    count: int | None
    withheld: bool
    change_from_previous: int | None
    change_from_last_year: int | None
    z_score: float | None
    p_value: float | None
    hotspot: HotspotClass | None


@dataclass(frozen=True)
class Heatmap:
    resolution: str
    periods: Periods
    exact: bool
    cells: list[HeatCell]


def _years_back(t: datetime, years: int) -> datetime:
    try:
        return t.replace(year=t.year - years)
    except ValueError:  # 29 February
        return t.replace(year=t.year - years, day=28)


def periods(start: datetime, end: datetime) -> Periods:
    """The period and its comparisons: the same length just before (the same number of
    calendar months for a period of whole months, so that its comparison is whole months
    too), and a year earlier."""
    start, end = local_time(start), local_time(end)
    period_year(start.year, "from")
    period_year(end.year, "to")
    if not start < end:
        raise bad_input("`from` must be before `to`", "from")
    if start < _years_back(end, MAX_YEARS):
        raise bad_input(f"the period may span at most {MAX_YEARS} years", "to")
    months = whole_months(start, end)
    previous = start - (end - start) if months is None else months_before(start, months)
    return Periods(start=start, end=end, previous_start=previous,
                   last_year_start=_years_back(start, 1), last_year_end=_years_back(end, 1))


async def _ticket_filter(db: Database, args: HeatmapArgs) -> TicketFilter:
    statuses = None
    if args.statuses is not None:
        unknown = sorted(set(args.statuses) - STATUSES)
        if unknown:
            raise bad_input(f"unknown ticket status {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(STATUSES))}", "status")
        statuses = tuple(sorted(set(args.statuses)))
    if args.category_code is None and args.item_code is None:
        return TicketFilter(statuses=statuses)
    async with db.connection() as conn:
        codes = await queries.demand_codes(conn, args.category_code)
    if args.category_code is not None and args.category_code not in (codes.categories or []):
        raise bad_input(f"unknown category code {args.category_code!r}", "categoryCode")
    if args.item_code is not None:
        if args.item_code not in (codes.items or []):
            raise bad_input(f"unknown item code {args.item_code!r}", "itemCode")
        if args.category_code is not None and args.item_code not in codes.in_category:
            raise bad_input(f"item {args.item_code} is not in category {args.category_code}",
                            "itemCode")
        return TicketFilter(item_codes=(args.item_code,), statuses=statuses)
    return TicketFilter(item_codes=tuple(codes.in_category or ()), statuses=statuses)


@dataclass(frozen=True)
class CountyCells:
    """Every cell of a resolution that meets the county: the population Gi* runs over, the
    same whatever box is asked for, so a cell's class does not move when the map pans."""

    keys: list[Any]
    shapes: list[dict[str, Any]]
    near: list[list[int]]
    outlines: Any  # numpy array of shapely polygons, for picking the cells a box meets


_county_cells: weakref.WeakKeyDictionary[Database, dict[str, CountyCells]] = (
    weakref.WeakKeyDictionary())


async def county_cells(db: Database, resolution: str) -> CountyCells | None:
    """The county's cells at `resolution`, built once per database handle (places change only
    when the data is reloaded); None on an empty database."""
    known = _county_cells.setdefault(db, {})
    if resolution not in known:
        async with db.connection() as conn:
            outline = await queries.county_outline(conn)
            if outline is None:
                return None
            rows = await queries.grid_cells_in(conn, BBox(*shapely.from_geojson(outline).bounds))
        if resolution == GRID_CELL:
            adjacency = await queries.grid_adjacency(db)
            keys = [r.id for r in rows]
            shapes = [json.loads(r.geojson) for r in rows]
            index = {k: i for i, k in enumerate(keys)}
            near = [[index[c] for c in sorted(adjacency.get(k, ())) if c in index] for k in keys]
        else:
            keys, shapes, near = await asyncio.to_thread(_county_hexes, outline, resolution)
        known[resolution] = CountyCells(keys, shapes, near, shapely.from_geojson(
            [json.dumps(shape) for shape in shapes]))
    return known[resolution]


def _county_hexes(outline: str, resolution: str) -> tuple[list[Any], list[dict[str, Any]],
                                                          list[list[int]]]:
    """The hexagons sharing some area with the county (none that merely lie in its box)."""
    county = shapely.from_geojson(outline)
    bounds, res = BBox(*county.bounds), queries.H3_RES[resolution]
    if hexagons.estimated_cover_size(bounds, res) > MAX_H3_CELLS:  # a county is not a province
        raise bad_input(f"the county holds more than {MAX_H3_CELLS:,} {resolution} hexagons; "
                        "use a coarser resolution", "resolution")
    cover = hexagons.cover(bounds, res)
    polygons = [hexagons.outline(c) for c in cover]
    inside = shapely.area(shapely.intersection(polygons, county)) > 0
    cells = [c for c, keep in zip(cover, inside, strict=True) if keep]
    index = {c: i for i, c in enumerate(cells)}
    ring = hexagons.neighbours(cells)
    near = [[index[c] for c in sorted(ring[cell])] for cell in cells]
    shapes = [{"type": "Polygon", "coordinates": [[list(p) for p in hexagons.outline(c)
                                                   .exterior.coords]]} for c in cells]
    return cells, shapes, near


async def study_box(db: Database, bbox: BBox) -> BBox:
    """`bbox` clipped to the county's extent and a margin; a box of no area, or one that
    misses the county, is refused before any work."""
    if not (bbox.west < bbox.east and bbox.south < bbox.north):
        raise bad_input("`bbox` must have a positive area (west < east, south < north)", "bbox")
    county = await queries.study_area(db)
    if county is None:
        return bbox
    m = STUDY_MARGIN_DEG
    w, s, e, n = (max(bbox.west, county[0] - m), max(bbox.south, county[1] - m),
                  min(bbox.east, county[2] + m), min(bbox.north, county[3] + m))
    if not (w < e and s < n):
        raise DomainError(ErrorCode.OUTSIDE_COVERAGE,
                          "`bbox` does not meet the county's extent "
                          f"({', '.join(f'{v:.4f}' for v in county)})", "bbox")
    return BBox(w, s, e, n)


def resolution_for(rule: Disclosure, asked: str | None) -> str:
    """The heat map's cells for a caller: BAD_USER_INPUT for a resolution that does not
    exist, whoever asks; else the disclosure rule's (`Disclosure.heatmap_resolution`)."""
    if asked is not None and asked not in RESOLUTIONS:
        raise bad_input(f"resolution must be one of {', '.join(RESOLUTIONS)}", "resolution")
    return rule.heatmap_resolution(asked)


async def heatmap(db: Database, actor: Actor, args: HeatmapArgs) -> Heatmap:
    """Cells overlapping the box with counts, changes and Gi* hot/cold classes."""
    rule = disclosure(actor)
    resolution = resolution_for(rule, args.resolution)
    args = replace(args, resolution=resolution)
    span = periods(args.start, args.end)
    rule.check_period(span.start, span.end)
    rule.check_filters(categoryCode=args.category_code, itemCode=args.item_code,
                       status=args.statuses)
    bbox = await study_box(db, args.bbox)
    zone = await _zone(db, args.zone_code)
    tickets = await _ticket_filter(db, args)
    county = await county_cells(db, resolution)
    if county is None:
        return Heatmap(resolution=resolution, periods=span, exact=True, cells=[])
    async with db.connection() as conn:
        counted = await queries.period_counts(conn, resolution=resolution, ids=county.keys,
                                              periods=span, tickets=tickets)
    # Grid cells only for callers with exact counts everywhere; hexagons cross the scopes'
    # borders, so they are exact for those callers alone too.
    exact = [rule.exact_counts] * len(county.keys)
    cells, shown = await asyncio.to_thread(_cells, args, county, bbox, counted, exact, zone)
    # `exact`: every count of the answer is exact (the caller's scope covers every cell).
    return Heatmap(resolution=resolution, periods=span, exact=all(shown), cells=cells)


async def _zone(db: Database, code: str | None) -> Any:
    """The outline of the zone the answer is cut to (shapely), or None for no zone; NOT_FOUND
    for a code that names none."""
    if code is None:
        return None
    async with db.connection() as conn:
        outline = await queries.zone_outline(conn, code)
    if outline is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"no zone {code!r}", "zoneCode")
    return shapely.from_geojson(outline)


def _cells(args: HeatmapArgs, county: CountyCells, bbox: BBox,
           counted: dict[Any, tuple[int, int, int]],
           exact: list[bool], zone: Any = None) -> tuple[list[HeatCell], list[bool]]:
    """Gi* over every cell of the county; the cells that meet `bbox` (and whose inner point
    lies in `zone`, when given), and whether each of them is exact."""
    keys, shapes, near = county.keys, county.shapes, county.near
    triples = [counted.get(k, (0, 0, 0)) for k in keys]
    counts = [t[0] for t in triples]
    z = gi_star(counts, near)
    meets = shapely.intersects(county.outlines, shapely.box(*bbox.as_tuple()))
    if zone is not None:
        inner = shapely.point_on_surface(county.outlines)
        meets &= shapely.contains_xy(zone, shapely.get_x(inner), shapely.get_y(inner))
    cells, shown = [], []
    for i, key in enumerate(keys):
        if not meets[i]:
            continue
        shown.append(exact[i])
        n, prev, last = triples[i]
        pooled = n + sum(counts[j] for j in near[i])
        cells.append(_cell(
            str(key) if args.resolution == GRID_CELL else hexagons.hex_id(key),
            shapes[i] if args.crs is Crs.WGS84 else transform_geojson(shapes[i], args.crs),
            n, prev, last, float(z[i]), pooled, exact[i],
            exact[i] and all(exact[j] for j in near[i])))
    return cells, shown


def _cell(key: str, geometry: dict[str, Any], n: int, prev: int, last: int, z: float,
          pooled: int, exact: bool, exact_z: bool) -> HeatCell:
    """One cell as the caller sees it: `exact` counts, and an `exact_z` z-score only where the
    whole neighbourhood is exact (a z-score is linear in the neighbourhood's total, so an exact
    one next to withheld cells would give away their sum)."""
    count: int | None
    from_previous: int | None
    from_last_year: int | None
    if exact:
        count, withheld, from_previous, from_last_year = n, False, n - prev, n - last
    else:
        shown = n >= MIN_COUNT
        count, withheld = (n if shown else None), not shown
        from_previous = n - prev if shown and prev >= MIN_COUNT else None
        from_last_year = n - last if shown and last >= MIN_COUNT else None
    if exact_z:
        p = p_value(z)
        return HeatCell(key, geometry, count, withheld, from_previous, from_last_year, z, p,
                        classify(z, p))
    if pooled < MIN_COUNT:
        return HeatCell(key, geometry, count, withheld, from_previous, from_last_year,
                        None, None, None)
    rz = round(z, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return HeatCell(key, geometry, count, withheld, from_previous, from_last_year, rz,
                    round(p_value(rz), 3), classify(rz, p_value(rz)))
