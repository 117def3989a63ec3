"""Generates the places of the demo county seat: streets, zones, communities, compounds,
buildings and grid cells, in a local metric frame around the Linshu county seat.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon, box
from shapely.ops import unary_union

from db.demo import names
from geo.codes import cell_code, community_code, order_west_east_north_south, street_code
from geo.partition import partition_households

COMMUNITY_COUNT = 43
COMPOUND_COUNT = 230
BUILDING_COUNT = 2266  # one in-service party member is building head 楼栋长 of each
# Half-extent of the urban area in metres: about 8 x 7 km.
HALF_W, HALF_H = 4000.0, 3500.0
# Communities per street and zone: 26 in 临沭街道 (3 zones), 17 in 郑山街道 (2 zones).
ZONE_SIZES = ((9, 9, 8), (9, 8))


@dataclass
class CommunityPlan:
    code: str
    name: str
    street_index: int
    zone_code: str
    polygon: Polygon
    households: int = 0
    population: int = 0


@dataclass
class CompoundPlan:
    code: str
    name: str
    community_code: str
    polygon: Polygon
    households: int
    population: int
    buildings: list[BuildingPlan] = field(default_factory=list)
    elderly: int = 0  # aged 60+
    children: int = 0  # aged 0–14


@dataclass
class BuildingPlan:
    code: str
    compound_code: str
    polygon: Polygon
    floors: int
    households: int
    cell_code: str = ""


@dataclass
class CellPlan:
    code: str
    community_code: str
    polygon: Polygon
    households: int


@dataclass
class Places:
    """All generated places, with polygons in the local metric frame."""

    extent: Polygon
    streets: list[tuple[str, str, Polygon]]
    zones: list[tuple[str, str, str, Polygon]]  # code, name, street code, polygon
    communities: list[CommunityPlan]
    compounds: list[CompoundPlan]
    cells: list[CellPlan]


def urban_extent() -> Polygon:
    """A convex outline of the urban area with cut corners."""
    c = 900.0
    return Polygon([
        (-HALF_W + c, -HALF_H), (HALF_W - c, -HALF_H), (HALF_W, -HALF_H + c),
        (HALF_W, HALF_H - c), (HALF_W - c, HALF_H), (-HALF_W + c, HALF_H),
        (-HALF_W, HALF_H - c), (-HALF_W, -HALF_H + c),
    ])


def _voronoi_cells(seeds: np.ndarray, extent: Polygon) -> list[Polygon]:
    regions = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=extent)
    cells: list[Polygon] = []
    for seed in seeds:
        region = next(g for g in regions.geoms if g.contains(shapely.Point(seed)))
        cells.append(region.intersection(extent))
    return cells


def community_polygons(rng: random.Random, extent: Polygon) -> list[Polygon]:
    """43 convex communities tiling the extent: a Voronoi diagram relaxed by Lloyd's method."""
    xmin, ymin, xmax, ymax = extent.bounds
    seeds: list[tuple[float, float]] = []
    while len(seeds) < COMMUNITY_COUNT:
        p = (rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        if extent.contains(shapely.Point(p)):
            seeds.append(p)
    arr = np.array(seeds)
    for _ in range(12):
        arr = np.array([[c.centroid.x, c.centroid.y] for c in _voronoi_cells(arr, extent)])
    return [shapely.orient_polygons(c) if hasattr(shapely, "orient_polygons")
            else shapely.geometry.polygon.orient(c) for c in _voronoi_cells(arr, extent)]


def _order(polys: list[Polygon], band: float) -> list[int]:
    return order_west_east_north_south([(p.centroid.x, p.centroid.y) for p in polys], band)


def plan_communities(rng: random.Random, extent: Polygon) -> list[CommunityPlan]:
    polys = community_polygons(rng, extent)
    # 郑山街道 takes the 17 communities furthest to the south-east.
    rank = sorted(range(len(polys)), key=lambda i: polys[i].centroid.x - 0.6 * polys[i].centroid.y)
    by_street = [sorted(rank[:26]), sorted(rank[26:])]
    name_pool = list(names.GENERATED_COMMUNITIES)
    rng.shuffle(name_pool)
    plans: list[CommunityPlan] = []
    zone_no = 0
    for s, members in enumerate(by_street):
        ordered = [members[i] for i in _order([polys[i] for i in members], 1100.0)]
        # Zones are bands of communities from north to south within the street.
        north_first = sorted(members, key=lambda i: -polys[i].centroid.y)
        zone_of: dict[int, str] = {}
        start = 0
        for size in ZONE_SIZES[s]:
            zone_no += 1
            for i in north_first[start:start + size]:
                zone_of[i] = f"Z{zone_no}"
            start += size
        for n, i in enumerate(ordered, start=1):
            plans.append(CommunityPlan(
                code=community_code(street_code(s + 1), n), name="", street_index=s,
                zone_code=zone_of[i], polygon=polys[i],
            ))
    # Real names go to communities spread over the area; the rest are generated.
    real_slots = [0, 9, 20, 30]
    for slot, real in zip(real_slots, names.REAL_COMMUNITIES):
        plans[slot].name = real + "社区"
    pool = iter(name_pool)
    for plan in plans:
        if not plan.name:
            plan.name = next(pool) + "社区"
    return plans


def _compound_counts(rng: random.Random, n: int) -> list[int]:
    counts = [COMPOUND_COUNT // n] * n
    for i in rng.sample(range(n), COMPOUND_COUNT - sum(counts)):
        counts[i] += 1
    return counts


def _largest_remainder(weights: list[float], total: int, minimum: int) -> list[int]:
    base = [minimum] * len(weights)
    rest = total - minimum * len(weights)
    s = sum(weights)
    shares = [w / s * rest for w in weights]
    out = [b + math.floor(x) for b, x in zip(base, shares)]
    left = total - sum(out)
    for i in sorted(range(len(weights)), key=lambda i: shares[i] - math.floor(shares[i]))[-left:]:
        out[i] += 1
    return out


def _place_rect(rng: random.Random, inner: Polygon, taken: list[Polygon],
                w: float, h: float) -> Polygon | None:
    xmin, ymin, xmax, ymax = inner.bounds
    for _ in range(400):
        x, y = rng.uniform(xmin, xmax - w), rng.uniform(ymin, ymax - h)
        rect = box(x, y, x + w, y + h)
        if inner.contains(rect) and not any(rect.distance(t) < 25 for t in taken):
            return rect
    return None


def _layout_buildings(rect: Polygon, count: int, cols: int) -> list[Polygon]:
    """Slab buildings facing south in rows, 60 x 14 m with 75 m / 40 m pitch."""
    xmin, ymin, xmax, ymax = rect.bounds
    out: list[Polygon] = []
    for i in range(count):
        row, col = divmod(i, cols)
        x = xmin + 15 + col * 75
        y = ymax - 15 - 14 - row * 40
        out.append(box(x, y, x + 60, y + 14))
    return out


def plan_compounds(rng: random.Random, communities: list[CommunityPlan]) -> list[CompoundPlan]:
    counts = _compound_counts(rng, len(communities))
    sizes = [rng.lognormvariate(0, 0.45) for _ in range(COMPOUND_COUNT)]
    per_compound = _largest_remainder(sizes, BUILDING_COUNT, 3)
    generated = iter(names.compound_names(rng, COMPOUND_COUNT))
    real_by_community = {v + "社区": k for k, v in names.REAL_COMPOUNDS.items()}
    compounds: list[CompoundPlan] = []
    k = 0
    for comm, count in zip(communities, counts):
        inner = comm.polygon.buffer(-30)
        taken: list[Polygon] = []
        for j in range(count):
            nb = per_compound[k]
            k += 1
            cols = max(1, round(math.sqrt(nb * 40 / 75)))
            rows = math.ceil(nb / cols)
            rect = None
            while rect is None:
                rect = _place_rect(rng, inner, taken, cols * 75 + 20, rows * 40 + 22)
                if rect is None:  # no room: make the compound denser and try again
                    cols += 1
                    rows = math.ceil(nb / cols)
            taken.append(rect)
            name = real_by_community.pop(comm.name, None) if j == 0 else None
            code = f"{comm.code}C{j + 1:02d}"
            plan = CompoundPlan(code=code, name=name or next(generated), community_code=comm.code,
                                polygon=rect, households=0, population=0)
            for b, poly in enumerate(_layout_buildings(rect, nb, cols), start=1):
                floors = rng.choice((6, 6, 11, 18, 26))
                households = min(2 * floors * rng.choice((2, 3)), 104)
                plan.buildings.append(BuildingPlan(
                    code=f"{code}B{b:02d}", compound_code=code, polygon=poly,
                    floors=floors, households=households,
                ))
            plan.households = sum(b.households for b in plan.buildings)
            plan.population = round(plan.households * rng.uniform(2.6, 3.1))
            compounds.append(plan)
    return compounds


def _points_in(rng: np.random.Generator, poly: Polygon, n: int,
               avoid: list[Polygon] | None = None) -> np.ndarray:
    xmin, ymin, xmax, ymax = poly.bounds
    out: list[np.ndarray] = []
    have = 0
    blocked = unary_union(avoid) if avoid else None
    while have < n:
        cand = rng.uniform((xmin, ymin), (xmax, ymax), size=(max(64, 2 * (n - have)), 2))
        inside = shapely.contains_xy(poly, cand[:, 0], cand[:, 1])
        if blocked is not None:
            inside &= ~shapely.contains_xy(blocked, cand[:, 0], cand[:, 1])
        keep = cand[inside][: n - have]
        out.append(keep)
        have += len(keep)
    return np.concatenate(out)


def plan_cells(seed: int, communities: list[CommunityPlan],
               compounds: list[CompoundPlan]) -> list[CellPlan]:
    """Partitions each community into grid cells of 300–500 households, numbered W→E, N→S."""
    rng = np.random.default_rng(seed)
    by_comm: dict[str, list[CompoundPlan]] = {}
    for cp in compounds:
        by_comm.setdefault(cp.community_code, []).append(cp)
    cells: list[CellPlan] = []
    for comm in communities:
        mine = by_comm.get(comm.code, [])
        scattered = int(rng.integers(300, 1400))
        parts = [_points_in(rng, b.polygon, b.households) for cp in mine for b in cp.buildings]
        parts.append(_points_in(rng, comm.polygon.buffer(-1), scattered,
                                [cp.polygon for cp in mine]))
        points = np.concatenate(parts)
        coords = list(comm.polygon.exterior.coords)[:-1]
        pieces = partition_households(coords, points)
        polys = [Polygon(ring) for ring, _ in pieces]
        for n, i in enumerate(_order(polys, 250.0), start=1):
            cells.append(CellPlan(code=cell_code(comm.code, n), community_code=comm.code,
                                  polygon=polys[i], households=pieces[i][1]))
        comm.households = len(points)
        comm.population = sum(cp.population for cp in mine) + round(scattered * 2.7)
    tree = shapely.STRtree([c.polygon for c in cells])
    for cp in compounds:
        for b in cp.buildings:
            hit = tree.query(b.polygon.centroid, predicate="intersects")
            b.cell_code = cells[int(min(hit))].code
    return cells


# The county seat's resident mix: about 20% aged 60+ and 15% aged 0–14; compounds of
# walk-up six-storey slabs (the older stock, no lifts) are older.
ELDERLY_BASE, ELDERLY_PER_OLD = 0.16, 0.22
CHILDREN_BASE, CHILDREN_PER_OLD = 0.16, -0.06


def old_stock_share(compound: CompoundPlan) -> float:
    """The share of a compound's households in six-storey walk-ups (the older stock)."""
    old = sum(b.households for b in compound.buildings if b.floors == 6)
    return old / compound.households if compound.households else 0.0


def plan_residents(seed: int, compounds: list[CompoundPlan]) -> None:
    """Fills each compound's elderly and children from its housing stock, with its own random
    stream so that every other generated value stays as it was."""
    rng = random.Random(seed * 31 + 60)
    for cp in compounds:
        old = old_stock_share(cp)
        elderly = ELDERLY_BASE + ELDERLY_PER_OLD * old + rng.uniform(-0.03, 0.03)
        children = CHILDREN_BASE + CHILDREN_PER_OLD * old + rng.uniform(-0.025, 0.025)
        cp.elderly = round(cp.population * elderly)
        cp.children = round(cp.population * children)


def plan_places(seed: int) -> Places:
    rng = random.Random(seed)
    extent = urban_extent()
    communities = plan_communities(rng, extent)
    compounds = plan_compounds(rng, communities)
    cells = plan_cells(seed, communities, compounds)
    plan_residents(seed, compounds)
    zones: list[tuple[str, str, str, Polygon]] = []
    streets: list[tuple[str, str, Polygon]] = []
    zone_no = 0
    for s, street_name in enumerate(names.STREETS):
        members = [c for c in communities if c.street_index == s]
        streets.append((street_code(s + 1), street_name,
                        unary_union([c.polygon for c in members])))
        for zone_name in names.ZONES[s]:
            zone_no += 1
            zc = f"Z{zone_no}"
            zones.append((zc, zone_name, street_code(s + 1),
                          unary_union([c.polygon for c in members if c.zone_code == zc])))
    return Places(extent=extent, streets=streets, zones=zones, communities=communities,
                  compounds=compounds, cells=cells)
