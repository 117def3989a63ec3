"""Generates the demo's base map: roads 道路 along the community boundaries and into the
compounds, the 沭河 river west of the town and two park ponds, in the same local metric frame
as the places (`db/demo/places.py`), so the map reads as a town even without an online basemap.

Its own random stream: every other generated value stays as it was.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import linemerge, unary_union

from db.demo.places import HALF_H, Places

# Road names: a stem per road, 大街 for the primary roads, 路 for the secondary ones.
_STEMS = ("沭河", "常林", "兴业", "振兴", "人民", "文化", "建设", "团结", "和平", "光明", "育才",
          "新华", "幸福", "长安", "友谊", "胜利", "朝阳", "永安", "金山", "东风", "青年", "滨河",
          "花园", "玉山", "中山", "府前", "商城", "学府", "工业", "站前")
_DIGITS = "一二三四五六七八九十"
# The river's centre line: 4.55 km west of the centre, swinging 300 m either way; 300 m wide.
RIVER_X, RIVER_SWING, RIVER_HALF_WIDTH = -4550.0, 300.0, 150.0
RIVER_WAVELENGTH = 5200.0


@dataclass(frozen=True)
class RoadPlan:
    code: str
    name: str
    kind: str  # PRIMARY, SECONDARY or MINOR
    geom: BaseGeometry  # LineString or MultiLineString, local frame


@dataclass(frozen=True)
class WaterPlan:
    code: str
    name: str
    kind: str  # RIVER, CANAL or POND
    geom: Polygon


def _lines(geom: BaseGeometry) -> list[LineString]:
    if isinstance(geom, LineString):
        return [geom] if geom.length > 0 else []
    return [g for part in getattr(geom, "geoms", []) for g in _lines(part)]


def _key(xy: tuple[float, ...]) -> tuple[float, float]:
    return round(xy[0], 3), round(xy[1], 3)


def _heading(line: LineString, at_start: bool) -> float:
    """The direction (radians) in which `line` leaves the end it starts from."""
    (x0, y0), (x1, y1) = (line.coords[0], line.coords[1]) if at_start else (
        line.coords[-1], line.coords[-2])
    return math.atan2(y1 - y0, x1 - x0)


def _strokes(lines: list[LineString], max_turn: float = math.radians(60)) -> list[LineString]:
    """Segments chained into roads: through each junction a road goes on along the segment
    that turns least (at most `max_turn`), longest roads first."""
    if not lines:
        return []
    pieces = sorted(_lines(linemerge(MultiLineString(lines))),
                    key=lambda g: (-round(g.length, 3), g.coords[0]))
    at: dict[tuple[float, float], list[int]] = {}
    for i, g in enumerate(pieces):
        at.setdefault(_key(g.coords[0]), []).append(i)
        at.setdefault(_key(g.coords[-1]), []).append(i)
    used: set[int] = set()
    strokes: list[LineString] = []
    for i, first in enumerate(pieces):
        if i in used:
            continue
        used.add(i)
        coords = list(first.coords)
        for _ in range(2):  # grow the end, then (reversed) the other end
            while True:
                out = _heading(LineString(coords), at_start=False) + math.pi
                best: tuple[float, int, bool] | None = None
                for j in at[_key(coords[-1])]:
                    if j in used:
                        continue
                    g = pieces[j]
                    forward = _key(g.coords[0]) == _key(coords[-1])
                    turn = abs((_heading(g, forward) - out + math.pi) % (2 * math.pi) - math.pi)
                    if turn <= max_turn and (best is None or turn < best[0]):
                        best = (turn, j, forward)
                if best is None:
                    break
                _, j, forward = best
                used.add(j)
                nxt = list(pieces[j].coords)
                coords += (nxt if forward else nxt[::-1])[1:]
            coords.reverse()
        strokes.append(LineString(coords))
    return sorted(strokes, key=lambda g: (-round(g.length, 3), g.coords[0]))


def _boundary_roads(places: Places) -> tuple[list[LineString], list[LineString]]:
    """The shared edges of neighbouring communities: primary where zones meet, else
    secondary."""
    primary: list[LineString] = []
    secondary: list[LineString] = []
    comms = places.communities
    tree = shapely.STRtree([c.polygon for c in comms])
    for i, a in enumerate(comms):
        for j in sorted(int(k) for k in tree.query(a.polygon, predicate="touches")):
            if j <= i:
                continue
            b = comms[j]
            edge = _lines(a.polygon.boundary.intersection(b.polygon.boundary))
            (primary if a.zone_code != b.zone_code else secondary).extend(edge)
    return _strokes(primary), _strokes(secondary)


def _lanes(places: Places) -> list[tuple[str, LineString]]:
    """One lane from the middle of each compound's south side straight south to the edge of its
    community, named after the community (一巷, 二巷, …)."""
    by_code = {c.code: c for c in places.communities}
    count: dict[str, int] = {}
    lanes: list[tuple[str, LineString]] = []
    for cp in places.compounds:
        comm = by_code[cp.community_code]
        xmin, ymin, xmax, _ = cp.polygon.bounds
        x = (xmin + xmax) / 2
        ray = LineString([(x, ymin), (x, ymin - 2 * HALF_H)])
        hits = _lines(ray.intersection(comm.polygon))
        if not hits:
            continue
        lane = min(hits, key=lambda g: g.distance(Point(x, ymin)))
        if lane.length < 5:
            continue
        n = count[comm.code] = count.get(comm.code, 0) + 1
        number = _DIGITS[n - 1] if n <= len(_DIGITS) else str(n)
        lanes.append((f"{comm.name.removesuffix('社区')}{number}巷", lane))
    return lanes


def plan_roads(places: Places) -> list[RoadPlan]:
    primary, secondary = _boundary_roads(places)
    ring = places.extent.exterior
    roads = [RoadPlan("R001", "环城路", "PRIMARY", LineString(ring.coords))]
    named = 0
    for kind, lines, suffix in (("PRIMARY", primary, "大街"), ("SECONDARY", secondary, "路")):
        for line in lines:
            # 团结路, then 团结二路, 团结三路 … once every stem has a road.
            stem, round_ = _STEMS[named % len(_STEMS)], named // len(_STEMS)
            number = _DIGITS[round_] if round_ else ""
            named += 1
            roads.append(RoadPlan(f"R{len(roads) + 1:03d}", f"{stem}{number}{suffix}", kind,
                                  line))
    for name, lane in _lanes(places):
        roads.append(RoadPlan(f"R{len(roads) + 1:03d}", name, "MINOR", lane))
    return roads


def _river() -> Polygon:
    """沭河: a band 300 m wide meandering north to south beside the town's western edge."""
    ys = [-HALF_H - 3000 + 100 * i for i in range(int((2 * HALF_H + 6000) / 100) + 1)]
    centre = LineString([
        (RIVER_X + RIVER_SWING * math.sin(2 * math.pi * y / RIVER_WAVELENGTH), y) for y in ys])
    return centre.buffer(RIVER_HALF_WIDTH, cap_style="flat")


def _pond(rng: random.Random, places: Places, radius: float,
          taken: list[BaseGeometry]) -> Polygon:
    """A round pond inside a community, clear of compounds, lanes and what is `taken` by 30 m
    (the community's edges are roads)."""
    blocked = unary_union([cp.polygon for cp in places.compounds] + taken)
    for _ in range(2000):
        comm = rng.choice(places.communities)
        xmin, ymin, xmax, ymax = comm.polygon.bounds
        centre = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        pond = centre.buffer(radius, quad_segs=12)
        if comm.polygon.buffer(-30).contains(pond) and pond.distance(blocked) >= 30:
            return pond
    raise RuntimeError("no room for a pond in the demo town")


def plan_waters(places: Places, roads: list[RoadPlan], seed: int) -> list[WaterPlan]:
    rng = random.Random(seed * 31 + 70)
    waters = [WaterPlan("W01", "沭河", "RIVER", _river())]
    taken: list[BaseGeometry] = [r.geom for r in roads if r.kind == "MINOR"]
    for code, name, radius in (("W02", "人民公园湖", 120.0), ("W03", "滨河公园湖", 90.0)):
        pond = _pond(rng, places, radius, taken)
        taken.append(pond)
        waters.append(WaterPlan(code, name, "POND", pond))
    return waters
