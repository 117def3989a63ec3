"""Planner analytics over the API: coverage against an independent geodesic count (pyproj's
Geod over every compound–facility pair), what-if consistent with coverage, site suggestions
proved optimal, never worse than greedy and below their bound, checked by brute force on a
small instance, and bad input with stable codes."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
import shapely
from pyproj import Geod

from resolvers.actor import Role
from tests.conftest import GraphQLClient, Minter
from tests.schema.planner_callers import ALLOWED, REFUSED, caller_as

GEOD = Geod(ellps="WGS84")
WEIGHT_FIELDS = {"HOUSEHOLDS": "households", "POPULATION": "population", "ELDERLY": "elderly",
                 "CHILDREN": "children"}
COMPOUNDS = """{ compounds { code households population elderly children center
  community { code zone { code } street { code } } } }"""
FACILITIES = "query ($kind: FacilityKind) { facilities(kind: $kind) { code geometry status } }"
COVERAGE = """query ($kind: FacilityKind!, $r: Float!, $w: CoverageWeight) {
  coverage(kind: $kind, radiusM: $r, weight: $w) { kind radiusM weight total covered share
    uncovered(first: 1000) { weight distanceM compound { code } nearest { code } }
    byCommunity { code name total covered share } byZone { code total covered share }
    byStreet { code name total covered share } } }"""
SUGGEST = """query ($kind: FacilityKind!, $n: Int!, $r: Float!, $w: CoverageWeight,
                    $c: CandidateSet, $extra: [PointInput!], $keep: Boolean, $t: Float) {
  suggestSites(kind: $kind, count: $n, radiusM: $r, weight: $w, candidates: $c,
               extraCandidates: $extra, keepExisting: $keep, timeLimitS: $t) {
    sites { rank gain point compound { code } serviceRoom { code status } }
    coveredBefore coveredAfter shareAfter curve optimal bound gap solveMs method } }"""
WHAT_IF = """query ($kind: FacilityKind!, $r: Float!, $add: [PointInput!], $remove: [String!]) {
  whatIf(kind: $kind, radiusM: $r, add: $add, removeCodes: $remove) {
    before { covered total } after { covered total uncovered(first: 1000) { compound { code } } }
    newlyCovered { weight distanceM nearestProposal nearest { code } compound { code } }
    newlyUncovered { weight distanceM compound { code } } } }"""
MARKET = """query ($min: Int, $max: Int) { marketGroups(minSize: $min, maxSize: $max) {
  number maxDistanceM venue { code community { code } } communities { code population geometry } } }"""
AREA_STATS = """{ areaStats(level: COUNTY, from: "2024-06-01", to: "2024-06-30") { code tickets } }"""


@dataclass(frozen=True)
class Place:
    code: str
    lon: float
    lat: float
    weights: dict[str, float]
    areas: tuple[str, str, str]


@pytest.fixture(scope="module")
def planner(gql: GraphQLClient, token: Minter) -> GraphQLClient:
    return gql.as_(token("PLANNER", sub="planner-1"))


@pytest.fixture(scope="module")
def compounds(planner: GraphQLClient) -> list[Place]:
    out = []
    for c in planner.data(COMPOUNDS)["compounds"]:
        lon, lat = c["center"]["coordinates"]
        out.append(Place(c["code"], lon, lat, {w: float(c[f]) for w, f in WEIGHT_FIELDS.items()},
                         (c["community"]["code"], c["community"]["zone"]["code"],
                          c["community"]["street"]["code"])))
    return out


def facilities(planner: GraphQLClient, kind: str) -> list[tuple[str, float, float]]:
    rows = planner.data(FACILITIES, {"kind": kind})["facilities"]
    return [(f["code"], *f["geometry"]["coordinates"]) for f in rows]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def nearest(place: Place, sites: list[tuple[str, float, float]]) -> tuple[str | None, float]:
    """Brute force: the nearest site by geodesic metres (ties by code)."""
    found = min(((metres((place.lon, place.lat), (x, y)), code) for code, x, y in sites),
                default=(float("inf"), None))
    return found[1], found[0]


@pytest.mark.parametrize(("kind", "radius", "weight"), [
    ("STATION", 300.0, "HOUSEHOLDS"), ("STATION", 500.0, "ELDERLY"),
    ("CLINIC", 1000.0, "POPULATION"), ("CANTEEN", 1000.0, "CHILDREN"),
    ("CANTEEN", 500.0, "HOUSEHOLDS"),
])
def test_coverage_matches_an_independent_geodesic_count(
        planner: GraphQLClient, compounds: list[Place], kind: str, radius: float,
        weight: str) -> None:
    sites = facilities(planner, kind)
    got = planner.data(COVERAGE, {"kind": kind, "r": radius, "w": weight})["coverage"]
    reach = {c.code: nearest(c, sites) for c in compounds}
    covered = {code for code, (_, d) in reach.items() if d <= radius}
    total = sum(c.weights[weight] for c in compounds)
    expected = sum(c.weights[weight] for c in compounds if c.code in covered)
    assert 0 < len(covered) < len(compounds)  # the case is not trivial
    assert got["total"] == pytest.approx(total)
    assert got["covered"] == pytest.approx(expected)
    assert got["share"] == pytest.approx(expected / total)
    assert {u["compound"]["code"] for u in got["uncovered"]} == {c.code for c in compounds} - covered
    for u in got["uncovered"]:
        code, d = reach[u["compound"]["code"]]
        assert u["nearest"]["code"] == code
        assert u["distanceM"] == pytest.approx(d, abs=0.01)
    weights = [u["weight"] for u in got["uncovered"]]
    assert weights == sorted(weights, reverse=True)
    for level, index in (("byCommunity", 0), ("byZone", 1), ("byStreet", 2)):
        for area in got[level]:
            mine = [c for c in compounds if c.areas[index] == area["code"]]
            assert area["total"] == pytest.approx(sum(c.weights[weight] for c in mine))
            assert area["covered"] == pytest.approx(
                sum(c.weights[weight] for c in mine if c.code in covered))
        assert sum(a["covered"] for a in got[level]) == pytest.approx(expected)
    assert len(got["byCommunity"]) == 43 and len(got["byZone"]) == 5 and len(got["byStreet"]) == 2


def test_what_if_agrees_with_coverage(planner: GraphQLClient, compounds: list[Place]) -> None:
    sites = facilities(planner, "CANTEEN")
    coverage = planner.data(COVERAGE, {"kind": "CANTEEN", "r": 500.0})["coverage"]
    unchanged = planner.data(WHAT_IF, {"kind": "CANTEEN", "r": 500.0})["whatIf"]
    assert unchanged["before"]["covered"] == unchanged["after"]["covered"] == coverage["covered"]
    assert unchanged["after"]["uncovered"] == [{"compound": u["compound"]}
                                               for u in coverage["uncovered"]]
    assert unchanged["newlyCovered"] == unchanged["newlyUncovered"] == []
    # Add canteens at the centres of the two heaviest uncovered compounds, remove one canteen.
    targets = [next(c for c in compounds if c.code == u["compound"]["code"])
               for u in coverage["uncovered"][:2]]
    removed = sites[0][0]
    after_sites = [s for s in sites if s[0] != removed] + \
        [(f"new{n}", t.lon, t.lat) for n, t in enumerate(targets)]
    got = planner.data(WHAT_IF, {"kind": "CANTEEN", "r": 500.0, "remove": [removed],
                                 "add": [{"lon": t.lon, "lat": t.lat} for t in targets]})["whatIf"]
    before = {c.code for c in compounds if nearest(c, sites)[1] <= 500.0}
    after = {c.code for c in compounds if nearest(c, after_sites)[1] <= 500.0}
    assert {r["compound"]["code"] for r in got["newlyCovered"]} == after - before
    assert {r["compound"]["code"] for r in got["newlyUncovered"]} == before - after
    assert {t.code for t in targets} <= after - before
    assert before - after, "removing a canteen should uncover someone here"
    weight = {c.code: c.weights["HOUSEHOLDS"] for c in compounds}
    assert got["after"]["covered"] == pytest.approx(
        got["before"]["covered"] + sum(r["weight"] for r in got["newlyCovered"])
        - sum(r["weight"] for r in got["newlyUncovered"]))
    assert got["after"]["covered"] == pytest.approx(sum(weight[c] for c in after))
    for r in got["newlyCovered"]:
        if r["compound"]["code"] in {t.code for t in targets}:
            assert r["nearest"] is None and r["nearestProposal"] in (0, 1)
            assert r["distanceM"] == pytest.approx(0.0, abs=0.01)


def _table(places: list[Place], cands: list[tuple[float, float]],
           radius: float) -> list[set[str]]:
    """Brute force over every pair: the compounds within `radius` geodesic metres of each
    candidate."""
    lons, lats = [p.lon for p in places], [p.lat for p in places]
    out = []
    for x, y in cands:
        d = GEOD.inv([x] * len(places), [y] * len(places), lons, lats)[2]
        out.append({p.code for p, m in zip(places, d) if m <= radius})
    return out


def greedy(weight: dict[str, float], table: list[set[str]], count: int,
           covered: set[str]) -> float:
    """Plain greedy by marginal gain, written independently of the service."""
    covered = set(covered)
    for _ in range(count):
        gains = [sum(weight[c] for c in s - covered) for s in table]
        best = max(range(len(table)), key=lambda j: (gains[j], -j))
        covered |= table[best]
    return sum(weight[c] for c in covered)


def test_suggestions_are_optimal_on_the_demo_and_no_worse_than_greedy(
        planner: GraphQLClient, compounds: list[Place]) -> None:
    got = planner.data(SUGGEST, {"kind": "STATION", "n": 10, "r": 300.0})["suggestSites"]
    assert got["optimal"] is True and got["gap"] == 0.0 and got["method"].startswith("MILP")
    sites = facilities(planner, "STATION")
    weight = {c.code: c.weights["HOUSEHOLDS"] for c in compounds}
    covered = {c.code for c in compounds if nearest(c, sites)[1] <= 300.0}
    assert got["coveredBefore"] == pytest.approx(sum(weight[c] for c in covered))
    table = _table(compounds, [(c.lon, c.lat) for c in compounds], 300.0)
    assert got["coveredAfter"] >= greedy(weight, table, 10, covered) - 1e-6
    assert got["bound"] >= got["coveredAfter"] - 1e-6
    # The sites chosen really cover what is claimed, and the curve adds up.
    chosen = [s["compound"]["code"] for s in got["sites"]]
    index = {c.code: n for n, c in enumerate(compounds)}
    reached = covered.union(*(table[index[c]] for c in chosen))
    assert got["coveredAfter"] == pytest.approx(sum(weight[c] for c in reached))
    total = sum(weight.values())
    assert len(got["curve"]) == len(got["sites"]) == 10
    assert got["curve"][-1] == pytest.approx(got["shareAfter"])
    assert got["shareAfter"] == pytest.approx(got["coveredAfter"] / total)
    gains = [s["gain"] for s in got["sites"]]
    assert gains == sorted(gains, reverse=True)
    assert got["coveredBefore"] + sum(gains) == pytest.approx(got["coveredAfter"])
    assert [s["rank"] for s in got["sites"]] == list(range(1, 11))
    assert got["solveMs"] < 10_000


def test_suggestions_match_brute_force_on_a_small_instance(
        planner: GraphQLClient, compounds: list[Place]) -> None:
    rooms = [f for f in planner.data(FACILITIES, {"kind": "SERVICE_ROOM"})["facilities"]
             if f["status"] == "IDLE"]
    cands = [tuple(f["geometry"]["coordinates"]) for f in rooms]
    weight = {c.code: c.weights["ELDERLY"] for c in compounds}
    table = _table(compounds, cands, 800.0)
    for count in (1, 2, 3):
        best = max(sum(weight[c] for c in set().union(*(table[j] for j in combo)))
                   for combo in itertools.combinations(range(len(cands)), count))
        got = planner.data(SUGGEST, {"kind": "CLINIC", "n": count, "r": 800.0, "w": "ELDERLY",
                                     "c": "SERVICE_ROOMS", "keep": False})["suggestSites"]
        assert got["optimal"] is True
        assert got["coveredBefore"] == 0.0
        assert got["coveredAfter"] == pytest.approx(best)
        # Without today's facilities the share is still of every compound's weight.
        assert got["shareAfter"] == pytest.approx(best / sum(weight.values()))
        assert got["curve"][-1] == pytest.approx(got["shareAfter"])
        assert got["bound"] >= best - 1e-6
        assert all(s["serviceRoom"]["status"] == "IDLE" for s in got["sites"])


def test_extra_candidates_are_used(planner: GraphQLClient, compounds: list[Place]) -> None:
    heavy = max(compounds, key=lambda c: c.weights["POPULATION"])
    got = planner.data(SUGGEST, {"kind": "CANTEEN", "n": 1, "r": 100.0, "w": "POPULATION",
                                 "c": "SERVICE_ROOMS", "keep": False,
                                 "extra": [{"lon": heavy.lon, "lat": heavy.lat}]})["suggestSites"]
    # An idle room may beat it only by covering more; the extra point covers at least `heavy`.
    assert got["coveredAfter"] >= heavy.weights["POPULATION"]


def test_three_hundred_extra_candidates_are_taken(planner: GraphQLClient,
                                                  compounds: list[Place]) -> None:
    # The benchmark's instance: 300 candidates given as points (every centre, then again).
    extra = [{"lon": c.lon, "lat": c.lat} for c in (compounds * 2)[:300]]
    got = planner.data(SUGGEST, {"kind": "STATION", "n": 1, "r": 100.0, "c": "SERVICE_ROOMS",
                                 "keep": False, "extra": extra})["suggestSites"]
    assert got["coveredAfter"] >= max(c.weights["HOUSEHOLDS"] for c in compounds)


BAD = [
    (SUGGEST, {"kind": "STATION", "n": 0, "r": 300.0}, "BAD_USER_INPUT", "count"),
    (SUGGEST, {"kind": "STATION", "n": 10_000, "r": 300.0}, "BAD_USER_INPUT", "count"),
    (SUGGEST, {"kind": "STATION", "n": 5, "r": 0.0}, "BAD_USER_INPUT", "radiusM"),
    (SUGGEST, {"kind": "STATION", "n": 5, "r": 5000.5}, "BAD_USER_INPUT", "radiusM"),
    (SUGGEST, {"kind": "STATION", "n": 5, "r": 300.0, "t": 0.0}, "BAD_USER_INPUT", "timeLimitS"),
    (SUGGEST, {"kind": "STATION", "n": 5, "r": 300.0, "extra": [{"lon": 118.0, "lat": 34.0}]},
     "OUTSIDE_COVERAGE", "extraCandidates.0"),
    (SUGGEST, {"kind": "STATION", "n": 5, "r": 300.0,
               "extra": [{"lon": 118.657, "lat": 34.918}] * 501}, "BAD_USER_INPUT",
     "extraCandidates"),
    (COVERAGE, {"kind": "STATION", "r": -1.0}, "BAD_USER_INPUT", "radiusM"),
    (COVERAGE, {"kind": "HOSPITAL", "r": 300.0}, "BAD_USER_INPUT", None),
    (WHAT_IF, {"kind": "STATION", "r": 300.0, "add": [{"lon": 120.0, "lat": 35.0}]},
     "OUTSIDE_COVERAGE", "add.0"),
    (WHAT_IF, {"kind": "STATION", "r": 300.0, "remove": ["CL01"]}, "NOT_FOUND", "removeCodes"),
]


@pytest.mark.parametrize(("query", "variables", "code", "field"), BAD)
def test_bad_input_has_a_stable_code(planner: GraphQLClient, query: str, variables: dict[str, Any],
                                     code: str, field: str | None) -> None:
    error = planner.error(query, variables)
    assert error["extensions"]["code"] == code, error
    if field is not None:
        assert error["extensions"]["field"] == field


@pytest.mark.parametrize("role", REFUSED)
def test_only_planners_and_officers_may_ask(gql: GraphQLClient, token: Minter, role: Role) -> None:
    caller = caller_as(gql, token, role)
    for query, variables in ((COVERAGE, {"kind": "STATION", "r": 300.0}),
                             (SUGGEST, {"kind": "STATION", "n": 1, "r": 300.0}),
                             (WHAT_IF, {"kind": "STATION", "r": 300.0}),
                             (MARKET, {}),
                             (AREA_STATS, {})):
        assert caller.error(query, variables)["extensions"]["code"] == "FORBIDDEN", query


@pytest.mark.parametrize("role", ALLOWED)
def test_planners_and_officers_may_ask(gql: GraphQLClient, token: Minter, role: Role) -> None:
    caller = caller_as(gql, token, role)
    assert caller.data(COVERAGE, {"kind": "CLINIC", "r": 500.0})["coverage"]["total"] > 0
    assert len(caller.data(AREA_STATS)["areaStats"]) == 1


def test_market_groups_partition_the_communities_into_contiguous_groups_of_3_to_4(
        planner: GraphQLClient) -> None:
    groups = planner.data(MARKET)["marketGroups"]
    members = [c["code"] for g in groups for c in g["communities"]]
    assert len(members) == len(set(members)) == 43
    assert [g["number"] for g in groups] == list(range(1, len(groups) + 1))
    shapes = {c["code"]: shapely.geometry.shape(c["geometry"])
              for g in groups for c in g["communities"]}
    centre = {code: s.centroid for code, s in shapes.items()}

    def borders(a: str, b: str) -> bool:  # a shared edge, not a corner
        return shapes[a].boundary.intersection(shapes[b].boundary).length > 0

    def connected(codes: list[str]) -> bool:
        seen, todo = {codes[0]}, [codes[0]]
        while todo:
            a = todo.pop()
            for b in codes:
                if b not in seen and borders(a, b):
                    seen.add(b)
                    todo.append(b)
        return len(seen) == len(codes)

    def cost(codes: list[str]) -> float:
        return sum(metres((centre[a].x, centre[a].y), (centre[b].x, centre[b].y))
                   for a, b in itertools.combinations(codes, 2))

    sets = [[c["code"] for c in g["communities"]] for g in groups]
    for g, codes in zip(groups, sets):
        assert 3 <= len(codes) <= 4
        assert connected(codes)
        assert g["venue"]["community"]["code"] in codes
        farthest = max(metres((centre[a].x, centre[a].y), (centre[b].x, centre[b].y))
                       for a, b in itertools.combinations(codes, 2))
        assert g["maxDistanceM"] == pytest.approx(farthest, abs=1.0)
    # No exchange of two members between two groups, nor a move of one member, keeps the
    # rules and lowers the sum of within-group distances (a necessary condition of optimality).
    for (i, a), (j, b) in itertools.combinations(enumerate(sets), 2):
        base = cost(a) + cost(b)
        moves = [([x for x in a if x != p] + [q], [y for y in b if y != q] + [p])
                 for p in a for q in b]
        moves += [([x for x in a if x != p], b + [p]) for p in a]
        moves += [(a + [q], [y for y in b if y != q]) for q in b]
        for na, nb in moves:
            if 3 <= len(na) <= 4 and 3 <= len(nb) <= 4 and connected(na) and connected(nb):
                assert cost(na) + cost(nb) >= base - 1e-6, (i, j, na, nb)


def test_a_market_groups_venue_is_the_compound_nearest_its_weighted_centre(
        planner: GraphQLClient, compounds: list[Place]) -> None:
    for g in planner.data(MARKET)["marketGroups"]:
        members = g["communities"]
        people = sum(c["population"] for c in members)
        centroids = [shapely.geometry.shape(c["geometry"]).centroid for c in members]
        centre = (sum(p.x * c["population"] for p, c in zip(centroids, members)) / people,
                  sum(p.y * c["population"] for p, c in zip(centroids, members)) / people)
        codes = {c["code"] for c in members}
        away = {p.code: metres(centre, (p.lon, p.lat)) for p in compounds if p.areas[0] in codes}
        # ranked on the projected column: within a metre of the geodesic nearest
        assert away[g["venue"]["code"]] <= min(away.values()) + 1.0, g["number"]


def test_market_groups_bad_sizes(planner: GraphQLClient) -> None:
    for variables, field in (({"min": 4, "max": 3}, "minSize"), ({"min": 0, "max": 3}, "minSize"),
                             ({"min": 3, "max": 40}, "maxSize"), ({"min": 5, "max": 5}, "minSize")):
        error = planner.error(MARKET, variables)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == field
