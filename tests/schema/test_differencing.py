"""Differencing under the disclosure rule: no two answers a caller without exact counts may get
differ, area by area, by a count of 1 or 2 — not two windows of months, not a filtered and an
unfiltered answer, not two counts of one areaStats row. Each pair is asked as the public (or an
out-of-scope street officer for areaStats) and as a planner: a planner's pairs (exact counts)
do differ by 1 and 2, so the check can fail."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import h3
import mapbox_vector_tile
import psycopg
import pytest
from starlette.testclient import TestClient

from db.urls import psycopg_conninfo
from resolvers.disclosure import shown_shares
from tests.conftest import TEST_DB, Minter, demo_database, drop_database, http_error
from tests.schema.test_disclosure import BOX, _box, _tiles
from web.app import create_app
from web.settings import Settings

MARCH = ("2024-03-01T00:00:00+08:00", "2024-04-01T00:00:00+08:00")
MARCH_APRIL = ("2024-03-01T00:00:00+08:00", "2024-05-01T00:00:00+08:00")
FILTERED_HEATMAP = """query ($b: BBoxInput!, $from: DateTime!, $to: DateTime!,
    $cat: String, $s: [TicketStatus!]) {
  heatmap(bbox: $b, from: $from, to: $to, categoryCode: $cat, status: $s) {
    cells { id count } } }"""
AREA_STATS = """query ($from: Date!, $to: Date!) {
  areaStats(level: COMMUNITY, from: $from, to: $to) {
    code exact tickets resolved onTimeRate rated } }"""
# Refusals a caller without exact counts may get instead of the second answer of a pair.
REFUSED = {"PERIOD_NOT_ONE_MONTH", "FILTER_NOT_ALLOWED"}
# The heat map over the whole county (its cells are few); tiles over BOX, the county seat.
COUNTY = (118.60, 34.88, 118.71, 34.96)

Counts = dict[str, int | None]


class Caller:
    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def graphql(self, query: str, variables: dict[str, Any]) -> Any:
        """The answer's data, or the refusal's code."""
        body = self.client.post("/graphql", headers=self.headers,
                                json={"query": query, "variables": variables}).json()
        if "errors" in body:
            return body["errors"][0]["extensions"]["code"]
        return body["data"]

    def get(self, path: str, params: dict[str, str]) -> Any:
        """The response, or the refusal's code."""
        response = self.client.get(path, params=params, headers=self.headers)
        if response.status_code == 400:
            return http_error(response.json())["code"]
        assert response.status_code == 200, (path, params, response.text)
        return response

    def heatmap(self, period: tuple[str, str], **filters: Any) -> Counts | str:
        found = self.graphql(FILTERED_HEATMAP, {"b": _box(COUNTY), "from": period[0],
                                                "to": period[1], **filters})
        if isinstance(found, str):
            return found
        return {c["id"]: c["count"] for c in found["heatmap"]["cells"]}

    def geojson(self, period: tuple[str, str], **filters: str) -> Counts | str:
        found = self.get("/heatmap.geojson", {"bbox": ",".join(map(str, COUNTY)),
                                              "from": period[0], "to": period[1], **filters})
        if isinstance(found, str):
            return found
        return {f["id"]: f["properties"]["count"] for f in found.json()["features"]}

    def ticket_tiles(self, z: int, params: dict[str, str]) -> Counts | str:
        """Counts of every feature of the ticket tiles over BOX at zoom `z`, by tile and
        feature id."""
        counts: Counts = {}
        for x, y in _tiles(z):
            found = self.get(f"/tiles/tickets/{z}/{x}/{y}.mvt", params)
            if isinstance(found, str):
                return found
            for layer in mapbox_vector_tile.decode(found.content).values():
                for f in layer["features"]:
                    key = f["properties"].get("cell_code") or f["properties"].get("id") or f["id"]
                    counts[f"{x}/{y}/{key}"] = f["properties"].get("count")
        return counts


def differences(a: Counts | str, b: Counts | str) -> set[int]:
    """|a − b| over the areas both show a count for; a refusal must be one of the rule's."""
    for answer in (a, b):
        if isinstance(answer, str):
            assert answer in REFUSED, answer
            return set()
    assert isinstance(a, dict) and isinstance(b, dict)
    shown = [(a[k], b[k]) for k in a.keys() & b.keys()
             if a[k] is not None and b[k] is not None]
    assert shown, "the two answers share no shown count: nothing was compared"
    return {abs(m - n) for m, n in shown}


def small(found: Iterable[int]) -> set[int]:
    return {1, 2} & set(found)


@pytest.fixture(params=["PUBLIC", "PLANNER"])
def caller(request: pytest.FixtureRequest, client: TestClient, token: Minter) -> Caller:
    return Caller(client, None if request.param == "PUBLIC" else
                  token("PLANNER", sub="planner-differencing"))


def exact(caller: Caller) -> bool:
    return bool(caller.headers)


def test_two_windows_of_the_heat_map_do_not_single_out_a_report(caller: Caller) -> None:
    found = (differences(caller.heatmap(MARCH_APRIL), caller.heatmap(MARCH))
             | differences(caller.geojson(MARCH_APRIL), caller.geojson(MARCH)))
    assert bool(small(found)) is exact(caller), found
    if not exact(caller):
        assert caller.heatmap(MARCH_APRIL) == caller.geojson(MARCH_APRIL) \
            == "PERIOD_NOT_ONE_MONTH"


def test_filtered_heat_maps_do_not_single_out_a_report(caller: Caller) -> None:
    every = caller.heatmap(MARCH)
    found = (differences(every, caller.heatmap(MARCH, cat="C2"))
             | differences(every, caller.heatmap(MARCH, s=["RESOLVED", "CLOSED"]))
             | differences(caller.geojson(MARCH), caller.geojson(MARCH, categoryCode="C2")))
    assert bool(small(found)) is exact(caller), found
    if not exact(caller):
        assert caller.heatmap(MARCH, cat="C2") == caller.geojson(MARCH, status="SUBMITTED") \
            == "FILTER_NOT_ALLOWED"


@pytest.mark.parametrize("z", [13, 15])
def test_ticket_tiles_of_two_windows_or_a_status_do_not_single_out_a_report(
        caller: Caller, z: int) -> None:
    march = {"from": "2024-03-01", "to": "2024-03-31"}
    found = (differences(caller.ticket_tiles(z, {"from": "2024-03-01", "to": "2024-04-30"}),
                         caller.ticket_tiles(z, march))
             | differences(caller.ticket_tiles(z, march),
                           caller.ticket_tiles(z, {**march, "status": "RESOLVED,CLOSED"}))
             # All time minus one month: the other months' count.
             | differences(caller.ticket_tiles(z, {}), caller.ticket_tiles(z, march)))
    assert bool(small(found)) is exact(caller), found
    if not exact(caller):
        assert caller.ticket_tiles(z, {"from": "2024-03-01"}) == "PERIOD_NOT_ONE_MONTH"
        assert caller.ticket_tiles(z, march) == "FILTER_NOT_ALLOWED"
        assert caller.ticket_tiles(z, {"status": "SUBMITTED"}) == "FILTER_NOT_ALLOWED"
        assert isinstance(caller.ticket_tiles(z, {}), dict)  # every ticket, counted


def derived(row: dict[str, Any]) -> set[int]:
    """Counts one areaStats row gives as the difference of two of its shown counts: the
    unresolved, the resolved late (from the on-time rate), the unrated."""
    tickets, resolved, rated, rate = (row[k] for k in ("tickets", "resolved", "rated",
                                                       "onTimeRate"))
    found = set()
    if tickets is not None and resolved is not None:
        found.add(tickets - resolved)
    if tickets is not None and rated is not None:
        found.add(tickets - rated)
    if resolved is not None and rated is not None:
        found.add(resolved - rated)
    if resolved is not None and rate is not None:
        found.add(resolved - round(rate * resolved))
    return found


MONTHS = [(f"2024-{m:02d}-01", f"2024-{m:02d}-{d}") for m, d in ((1, 31), (3, 31), (4, 30),
                                                                (5, 31))]


@pytest.mark.parametrize("role", ["STREET_OFFICER", "PLANNER"])
def test_area_stats_counts_do_not_differ_by_a_report(client: TestClient, token: Minter,
                                                     role: str) -> None:
    # A street officer outside the street of the communities asked about.
    caller = Caller(client, token(role, *(["371329002"] if role == "STREET_OFFICER" else []),
                                  sub="officer-differencing"))
    found: set[int] = set()
    for first, last in MONTHS:
        rows = caller.graphql(AREA_STATS, {"from": first, "to": last})["areaStats"]
        outside = [r for r in rows if not r["exact"]]
        assert bool(outside) is (role == "STREET_OFFICER")
        for row in outside or rows:
            found |= derived(row)
    assert bool(small(found)) is (role == "PLANNER"), found
    two = caller.graphql(AREA_STATS, {"from": "2024-03-01", "to": "2024-04-30"})
    if role == "STREET_OFFICER":
        assert two == "PERIOD_NOT_ONE_MONTH"
    else:
        assert isinstance(two, dict)


@pytest.mark.parametrize(("shares", "total", "expected"), [
    # 4 tickets, 3 by hotline: showing the 3 would give the rest, 1, by difference.
    ({"HOTLINE": 3, "QR": 1, "ONLINE": 0}, 4, {"HOTLINE": None, "QR": None, "ONLINE": None}),
    # The withheld share is none: 7 − 4 − 3 = 0 must not tell it; B joins it (rest 3).
    ({"A": 4, "B": 3, "C": 0}, 7, {"A": 4, "B": None, "C": None}),
    # The rest is 3 or more once the smallest shown share joins it.
    ({"A": 9, "B": 3, "C": 1, "D": 0}, 13, {"A": 9, "B": None, "C": None, "D": None}),
    # Enough withheld already; nothing else hidden.
    ({"A": 5, "B": 2, "C": 1}, 8, {"A": 5, "B": None, "C": None}),
    ({"A": 5, "B": 4}, 9, {"A": 5, "B": 4}),
    # Items beyond those listed are part of the rest.
    ({"P1": 6, "P2": 3}, 10, {"P1": 6, "P2": None}),
])
def test_shares_are_withheld_together(shares: dict[str, int], total: int,
                                      expected: dict[str, int | None]) -> None:
    shown = shown_shares(shares, total, exact=False)
    assert shown == expected
    rest = total - sum(n for n in shown.values() if n is not None)
    assert rest == 0 and None not in shown.values() or rest >= 3
    assert shown_shares(shares, total, exact=True) == shares



# The heat map of one month by grid cell 网格, beside the ticket tiles' count of every ticket
# per grid cell (below z15), would give a cell's other months by difference: grid cells are
# for callers with exact counts only; the others count on H3 hexagons (H3_8 by default).
HEATMAP = """query ($b: BBoxInput!, $from: DateTime!, $to: DateTime!, $r: HeatmapResolution) {
  heatmap(bbox: $b, from: $from, to: $to, resolution: $r) { resolution cells { id count } } }"""
HEAT_MONTH = {"from": MARCH[0], "to": MARCH[1]}
Refusal = tuple[str, str | None]  # code and field


def heat_routes(caller: Caller, resolution: str | None, period: dict[str, str],
                box: tuple[float, ...] = BOX) -> dict[str, tuple[str | None, Counts] | Refusal]:
    """The heat map of `period` over `box` from each of its routes — GraphQL (which takes the
    enum's names only), GeoJSON, a tile and the tiles' TileJSON — as (resolution answered, or
    None where the route does not say; counts by cell id), or the refusal's code and field."""
    found: dict[str, tuple[str | None, Counts] | Refusal] = {}
    if resolution in (None, "GRID_CELL", "H3_8", "H3_9"):
        variables = {"b": _box(box), **period, **({"r": resolution} if resolution else {})}
        body = caller.client.post("/graphql", headers=caller.headers, json={
            "query": HEATMAP, "variables": variables}).json()
        if "errors" in body:
            ext = body["errors"][0]["extensions"]
            found["graphql"] = (ext["code"], ext.get("field"))
        else:
            h = body["data"]["heatmap"]
            found["graphql"] = (h["resolution"], {c["id"]: c["count"] for c in h["cells"]})
    asked = {"resolution": resolution} if resolution else {}
    x, y = next(_tiles(13, box))
    for route, path, params in (
            ("geojson", "/heatmap.geojson", {"bbox": ",".join(map(str, box)), **period}),
            ("tile", f"/tiles/heatmap/13/{x}/{y}.mvt", period),
            ("tilejson", "/tiles/heatmap.json", period)):
        response = caller.client.get(path, params={**params, **asked}, headers=caller.headers)
        if response.status_code != 200:
            assert response.status_code == 400, (route, response.text)
            error = http_error(response.json())
            found[route] = (error["code"], error["field"])
        elif route == "geojson":
            doc = response.json()
            found[route] = (doc["resolution"], {f["id"]: f["properties"]["count"]
                                                for f in doc["features"]})
        elif route == "tile":
            found[route] = (None, {f["properties"]["id"]: f["properties"].get("count")
                                   for layer in mapbox_vector_tile.decode(
                                       response.content).values()
                                   for f in layer["features"]})
        else:
            found[route] = (None, {})
    return found


@pytest.fixture(params=["PUBLIC", "STREET_OFFICER", "PLANNER", "COUNTY_OFFICE"])
def heat_caller(request: pytest.FixtureRequest, client: TestClient,
                token: Minter) -> tuple[Caller, bool]:
    """A caller and whether it has exact counts: the public, a street officer of the other
    street (BOX, the county seat's centre, lies outside its scope), a planner and the county
    office."""
    bearer = {"PUBLIC": None, "PLANNER": token("PLANNER", sub="planner-cells"),
              "COUNTY_OFFICE": token("COUNTY_OFFICE", sub="county-cells"),
              "STREET_OFFICER": token("STREET_OFFICER", "371329002", sub="officer-cells")}
    return Caller(client, bearer[request.param]), request.param in ("PLANNER", "COUNTY_OFFICE")


def _is_hexagon(cell_id: object, resolution: int) -> bool:
    return (isinstance(cell_id, str) and h3.is_valid_cell(cell_id)
            and h3.get_resolution(cell_id) == resolution)


def _is_cell_of(cell_id: object, resolution: str) -> bool:
    """Whether `cell_id` is a cell of `resolution`: a grid cell's 15-digit code, or an H3
    index of the hexagons' resolution."""
    if resolution == "GRID_CELL":
        return isinstance(cell_id, str) and len(cell_id) == 15 and cell_id.isdigit()
    return _is_hexagon(cell_id, int(resolution[-1]))


@pytest.mark.parametrize("resolution", ["GRID_CELL", "H3_9"])
def test_grid_cells_and_h3_9_are_refused_on_every_heat_map_route_without_exact_counts(
        heat_caller: tuple[Caller, bool], db: psycopg.Connection, resolution: str) -> None:
    """Callers without exact counts count on H3_8 only: grid cells beside the ticket tiles'
    all-time counts per grid cell, and H3_9 hexagons beside their H3_8 parent's month, would
    each give a withheld count by difference."""
    caller, exact_counts = heat_caller
    before = db.execute("SELECT count(*), max(updated_at) FROM tickets").fetchone()
    for asked in (resolution, resolution.lower()):  # the HTTP routes take either case
        found = heat_routes(caller, asked, HEAT_MONTH)
        assert set(found) == ({"graphql", "geojson", "tile", "tilejson"}
                              if asked == resolution else {"geojson", "tile", "tilejson"})
        if exact_counts:
            for route, (answered, counts) in found.items():
                assert answered in (None, resolution), (route, answered)
                assert all(_is_cell_of(k, resolution) for k in counts), route
            assert found["tile"][1], found  # the tile drew cells
        else:
            assert all(v == ("FILTER_NOT_ALLOWED", "resolution") for v in found.values()), found
    assert db.execute("SELECT count(*), max(updated_at) FROM tickets").fetchone() == before


def test_the_default_heat_map_is_h3_8_without_exact_counts_and_grid_cells_with(
        heat_caller: tuple[Caller, bool]) -> None:
    caller, exact_counts = heat_caller
    found = heat_routes(caller, None, HEAT_MONTH)
    assert set(found) == {"graphql", "geojson", "tile", "tilejson"}
    for route, (answered, counts) in found.items():
        assert answered in (None, "GRID_CELL" if exact_counts else "H3_8"), (route, answered)
        assert all(_is_cell_of(k, "GRID_CELL" if exact_counts else "H3_8") for k in counts), \
            route
    assert found["graphql"][1] and found["geojson"][1] and found["tile"][1]
    # The same cells and counts on every route that draws them.
    assert found["graphql"][1] == found["geojson"][1]
    shared = found["tile"][1].keys() & found["graphql"][1].keys()
    assert shared and all(found["tile"][1][k] == found["graphql"][1][k] for k in shared)


LONE = [("2019-03-05", "P01"), ("2019-03-12", "P02"), ("2019-03-19", "P01"),
        ("2019-03-26", "P03"), ("2019-05-14", "P01")]
LONE_CELL = """SELECT c.code, ST_X(ST_PointOnSurface(c.geom)), ST_Y(ST_PointOnSurface(c.geom)),
       k.code, k.zone_code, k.street_code
FROM grid_cells c JOIN communities k ON k.code = c.community_code ORDER BY c.code LIMIT 1"""


@pytest.fixture(scope="module")
def lone_report(base_settings: Settings) -> Iterator[dict[str, Any]]:
    """A demo county of its own whose only tickets are hand-built: 4 in March 2019 and 1 in
    May 2019 (the lone report), at one point of one grid cell; served by a server of its own."""
    name = f"{TEST_DB}_lone"
    try:
        s = demo_database(base_settings, name)
        with psycopg.connect(psycopg_conninfo(s.database_url), autocommit=True) as conn:
            conn.execute("TRUNCATE tickets CASCADE")
            row = conn.execute(LONE_CELL).fetchone()
            assert row is not None
            cell, lon, lat, community, zone, street = row
            for n, (day, item) in enumerate(LONE):
                conn.execute("""
                    INSERT INTO tickets (code, item_code, channel, description, status, geom,
                                         cell_code, community_code, zone_code, street_code,
                                         created_at, due_at, updated_at, h3_8, h3_9)
                    VALUES (%(code)s, %(item)s, 'ONLINE', '测试', 'SUBMITTED',
                            ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(cell)s,
                            %(community)s, %(zone)s, %(street)s, %(at)s,
                            %(at)s::timestamptz + interval '7 days', %(at)s, %(h3_8)s,
                            %(h3_9)s)""",
                             {"code": f"T2019{n:04d}-{n:07d}", "item": item, "lon": lon,
                              "lat": lat, "cell": cell, "community": community, "zone": zone,
                              "street": street, "at": f"{day}T10:00:00+08:00",
                              "h3_8": h3.str_to_int(h3.latlng_to_cell(lat, lon, 8)),
                              "h3_9": h3.str_to_int(h3.latlng_to_cell(lat, lon, 9))})
        with TestClient(create_app(s)) as own:
            yield {"cell": cell, "lon": lon, "lat": lat, "months": ["2019-03", "2019-05"],
                   "community": community, "street": street, "client": own}
    finally:
        drop_database(base_settings, name)


def _month(month: str) -> dict[str, str]:
    year, m = map(int, month.split("-"))
    after = f"{year + m // 12}-{m % 12 + 1:02d}"
    return {"from": f"{month}-01T00:00:00+08:00", "to": f"{after}-01T00:00:00+08:00"}


def every_ticket(caller: Caller, lon: float, lat: float) -> Counts:
    """Every count of every ticket the caller reads around the point, by area id: the
    ticket tiles per grid cell (z12–z14) and per 100 m square (z15, z16), and the tickets
    layer's squares (OGC API serves the same features)."""
    found: Counts = {}
    box = (lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001)
    for z in range(12, 17):
        for x, y in _tiles(z, box):
            tile = caller.get(f"/tiles/tickets/{z}/{x}/{y}.mvt", {})
            assert not isinstance(tile, str), tile
            for layer in mapbox_vector_tile.decode(tile.content).values():
                for f in layer["features"]:
                    p = f["properties"]
                    if p.get("count") is not None and not p.get("code"):
                        area = p.get("cell_code") if z < 15 else f"square {f.get('id')}"
                        found[area] = p["count"]
    layer = caller.graphql("query { layer(name: TICKETS) }", {})
    assert not isinstance(layer, str), layer
    for f in layer["layer"]["features"]:
        if f["properties"]["count"] is not None:
            found[f"square {f['id']}"] = f["properties"]["count"]
    return found


def test_no_route_pair_singles_out_a_lone_report_in_a_grid_cell(
        lone_report: dict[str, Any], token: Minter) -> None:
    """Every ticket per area minus the sum of the months shown for the same area, over every
    heat-map route and resolution: the lone report's 1, for the grid cell, were grid cells
    answered beside the ticket tiles' counts (a planner's exact months give 0 there: the
    routes count the same tickets)."""
    cell, lon, lat = lone_report["cell"], lone_report["lon"], lone_report["lat"]
    box = (lon - 0.0005, lat - 0.0005, lon + 0.0005, lat + 0.0005)
    for who in ("PUBLIC", "PLANNER"):
        caller = Caller(lone_report["client"], None if who == "PUBLIC" else
                        token("PLANNER", sub="planner-lone"))
        totals = every_ticket(caller, lon, lat)
        assert totals.get(cell) is not None, totals  # the cell's count of every ticket
        shown: dict[tuple[str, str], Counts] = {}  # (route, resolution) -> area -> Σ months
        for month in lone_report["months"]:
            for resolution in ("GRID_CELL", "H3_8", "H3_9"):
                for route, answer in heat_routes(caller, resolution, _month(month),
                                                 box).items():
                    if route == "tilejson":
                        continue
                    if answer == ("FILTER_NOT_ALLOWED", "resolution"):
                        assert who == "PUBLIC" and resolution != "H3_8"
                        continue
                    counts = answer[1]
                    assert isinstance(counts, dict), (route, answer)
                    sums = shown.setdefault((route, resolution), {})
                    for area, n in counts.items():
                        sums[area] = (sums.get(area) or 0) + (n or 0)
        assert shown
        found = {(key, area): totals[area] - n for key, sums in shown.items()
                 for area, n in sums.items() if totals.get(area) is not None}
        if who == "PLANNER":
            assert {found[(route, "GRID_CELL"), cell] for route in ("graphql", "geojson", "tile")
                    } == {0}
        else:
            assert not small(found.values()), {k: v for k, v in found.items() if v in (1, 2)}


RANKING = """query ($from: String, $to: String) { propertyRanking(from: $from, to: $to) {
  managers { ranked { company { code } managerName tickets ratedTickets
                      supervisorFindings } } } }"""
COMPOUND_MONTHS = """query ($code: String!) {
  compoundMonthlyTickets(compoundCode: $code, from: "2023-03", to: "2023-04") {
    month tickets } }"""
# Managers with one compound, theirs alone, over March and April 2023: their standing for a
# month counts that compound's month.
MANAGER_COMPOUNDS = """
WITH m AS (
    SELECT company_code, manager_name, min(compound_code) AS compound FROM property_contracts
    WHERE start_date < '2023-05-01' AND (end_date IS NULL OR end_date > '2023-03-01')
    GROUP BY 1, 2
    HAVING count(DISTINCT compound_code) = 1 AND min(start_date) <= '2023-03-01'
       AND bool_and(end_date IS NULL OR end_date >= '2023-05-01'))
SELECT * FROM m WHERE NOT EXISTS (
    SELECT 1 FROM property_contracts o WHERE o.compound_code = m.compound
      AND o.start_date < '2023-05-01' AND (o.end_date IS NULL OR o.end_date > '2023-03-01')
      AND (o.company_code, o.manager_name) <> (m.company_code, m.manager_name))
ORDER BY 3 LIMIT 12"""


@pytest.mark.parametrize("role", ["COMMUNITY_STAFF", "PLANNER"])
def test_property_rankings_do_not_single_out_a_report(
        client: TestClient, token: Minter, db: psycopg.Connection, role: str) -> None:
    """The ranking's standings count a manager's compounds over any months (and over the
    days of contracts that start or end within a month): two windows, or a standing of one
    compound against that compound's months, would give a month's count of 1 or 2. Staff
    outside a standing's compounds see none of its counts; a planner's do differ."""
    # Community staff of one grid cell: no compound lies wholly in their scope.
    caller = Caller(client, token(role, *(["371329002001001"] if role == "COMMUNITY_STAFF"
                                          else []), sub="ranking-differencing"))

    def standings(first: str, last: str) -> dict[tuple[str, str], dict[str, Any]]:
        found = caller.graphql(RANKING, {"from": first, "to": last})
        assert isinstance(found, dict), found
        return {(s["company"]["code"], s["managerName"]): s
                for s in found["propertyRanking"]["managers"]["ranked"]}

    both, march, april = (standings("2023-03", "2023-04"), standings("2023-03", "2023-03"),
                          standings("2023-04", "2023-04"))
    found: set[int] = set()
    for key in both.keys() & march.keys():
        for field in ("tickets", "ratedTickets", "supervisorFindings"):
            if both[key][field] is not None and march[key][field] is not None:
                found.add(both[key][field] - march[key][field])
    # One manager's one compound: its standing for a month against the compound's month.
    for company, manager, compound in db.execute(MANAGER_COMPOUNDS):
        months = caller.graphql(COMPOUND_MONTHS, {"code": compound})
        assert isinstance(months, dict), months
        counts = {m["month"]: m["tickets"] for m in months["compoundMonthlyTickets"]}
        for month, answer in (("2023-03", march), ("2023-04", april)):
            standing = answer.get((company, manager), {}).get("tickets")
            if standing is not None and counts[month] is not None:
                found.add(counts[month] - standing)
    assert bool(small(found)) is (role == "PLANNER"), found
    if role == "COMMUNITY_STAFF":
        outside = [s for s in both.values() if s["tickets"] is not None]
        assert not outside, outside[:3]


LONE_STATS = """query ($code: String!, $from: Date!, $to: Date!) {
  areaStats(level: COMMUNITY, code: $code, from: $from, to: $to) {
    exact tickets resolved rated channels { tickets } months { tickets } } }"""


@pytest.mark.parametrize("role", ["STREET_OFFICER", "PLANNER"])
def test_area_months_against_the_tiles_cells_do_not_single_out_a_lone_report(
        lone_report: dict[str, Any], token: Minter, role: str) -> None:
    """A community is a union of grid cells: the ticket tiles' count of every ticket per cell,
    summed over it, minus its months in `areaStats` would give its withheld months. A street
    officer of the other street (no exact counts there) sees no count of those months; a
    planner's give the lone report's 0 left over (the two count the same tickets)."""
    other = "371329002" if lone_report["street"] == "371329001" else "371329001"
    caller = Caller(lone_report["client"], token(
        role, *([other] if role == "STREET_OFFICER" else []), sub=f"{role.lower()}-lone"))
    community = lone_report["community"]
    every = every_ticket(caller, lone_report["lon"], lone_report["lat"])
    all_time = sum(n or 0 for area, n in every.items()
                   if area is not None and area.startswith(community))
    assert all_time == 5  # every cell's count is shown: the lone cell's 5, no other tickets
    shown = []
    for first, last in (("2019-03-01", "2019-03-31"), ("2019-05-01", "2019-05-31")):
        found = caller.graphql(LONE_STATS, {"code": community, "from": first, "to": last})
        assert isinstance(found, dict), found
        [row] = found["areaStats"]
        counts = [row[k] for k in ("tickets", "resolved", "rated")] + [
            s["tickets"] for k in ("channels", "months") for s in row[k]]
        shown.append(row["tickets"])
        if role == "STREET_OFFICER":
            assert row["exact"] is False and set(counts) == {None}, row
    if role == "PLANNER":
        assert shown == [4, 1] and all_time - sum(shown) == 0
