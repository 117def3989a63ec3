"""`heatmap` 民情气象图: counts, changes, withheld small counts, Gi* hot spots, H3, datums,
bad input, and the GeoJSON route."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from typing import Any

import h3
import psycopg
import pytest
from starlette.testclient import TestClient

from geo.datum import wgs84_to_gcj02
from tests.conftest import GraphQLClient, Minter, http_error

HEATMAP = """query ($b: BBoxInput!, $from: DateTime!, $to: DateTime!, $cat: String,
  $item: String, $s: [TicketStatus!], $r: HeatmapResolution, $crs: Crs) {
  heatmap(bbox: $b, from: $from, to: $to, categoryCode: $cat, itemCode: $item, status: $s,
          resolution: $r, crs: $crs) {
    resolution from to previousFrom lastYearFrom lastYearTo exact
    cells { id geometry count withheld changeFromPrevious changeFromLastYear zScore pValue
            hotspot } } }"""
COUNTY_BOX = {"west": 118.60, "south": 34.88, "east": 118.71, "north": 34.96}
QUARTER = {"from": "2024-01-01T00:00:00+08:00", "to": "2024-04-01T00:00:00+08:00"}
WHOLE = {"from": "2023-01-01T00:00:00+08:00", "to": "2024-07-01T00:00:00+08:00"}
WEEK = {"from": "2024-03-04T00:00:00+08:00", "to": "2024-03-11T00:00:00+08:00"}
MONTH = {"from": "2024-03-01T00:00:00+08:00", "to": "2024-04-01T00:00:00+08:00"}
# Past the county on every side: every cell and hexagon of the county.
WIDE_BOX = {"west": 118.50, "south": 34.80, "east": 118.80, "north": 35.05}
CELLS_IN_BOX = """SELECT code FROM grid_cells
WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326)) ORDER BY code"""


def heatmap(client: GraphQLClient, period: dict[str, str], **more: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.data(HEATMAP, {"b": COUNTY_BOX, **period, **more})["heatmap"]
    return result


def direct_counts(db: psycopg.Connection, key: str, start: str, end: str,
                  where: str = "TRUE", params: tuple[Any, ...] = ()) -> dict[Any, int]:
    rows = db.execute(f"SELECT {key}, count(*) FROM tickets t WHERE created_at >= %s "
                      f"AND created_at < %s AND {where} GROUP BY 1", (start, end, *params))
    return dict(rows.fetchall())  # type: ignore[arg-type]


def test_grid_counts_equal_a_direct_count_and_include_empty_cells(
        county: GraphQLClient, db: psycopg.Connection) -> None:
    h = heatmap(county, QUARTER)
    expected_cells = [r[0] for r in db.execute(CELLS_IN_BOX, tuple(COUNTY_BOX.values()))]
    assert [c["id"] for c in h["cells"]] == expected_cells
    direct = direct_counts(db, "cell_code", QUARTER["from"], QUARTER["to"])
    got = {c["id"]: c["count"] for c in h["cells"]}
    assert got == {code: direct.get(code, 0) for code in expected_cells}
    assert 0 in got.values() and h["exact"] is True
    assert all(c["geometry"]["type"] in ("Polygon", "MultiPolygon") for c in h["cells"])


def test_small_box_holds_only_the_cells_it_touches(county: GraphQLClient,
                                                   db: psycopg.Connection) -> None:
    box = {"west": 118.650, "south": 34.912, "east": 118.660, "north": 34.920}
    h = county.data(HEATMAP, {"b": box, **QUARTER})["heatmap"]
    assert [c["id"] for c in h["cells"]] == [r[0] for r in db.execute(CELLS_IN_BOX,
                                                                       tuple(box.values()))]
    assert 0 < len(h["cells"]) < 40


def test_changes_equal_direct_counts_of_the_earlier_periods(county: GraphQLClient,
                                                            db: psycopg.Connection) -> None:
    where = ("t.status = ANY(%s) AND t.item_code IN "
             "(SELECT code FROM demand_items WHERE category_code = %s)")
    for extra, sql_where, params in (
            ({}, "TRUE", ()),
            ({"cat": "C1", "s": ["CLOSED", "RESOLVED"]}, where, (["CLOSED", "RESOLVED"], "C1"))):
        h = heatmap(county, QUARTER, **extra)
        # The quarter before (whole months compare with whole months), and the same quarter
        # of 2023.
        assert datetime.fromisoformat(h["previousFrom"]) == datetime.fromisoformat(
            "2023-10-01T00:00:00+08:00")
        assert (h["lastYearFrom"], h["lastYearTo"]) == ("2023-01-01T00:00:00+08:00",
                                                        "2023-04-01T00:00:00+08:00")
        now = direct_counts(db, "cell_code", QUARTER["from"], QUARTER["to"], sql_where, params)
        before = direct_counts(db, "cell_code", h["previousFrom"], QUARTER["from"], sql_where,
                               params)
        year = direct_counts(db, "cell_code", h["lastYearFrom"], h["lastYearTo"], sql_where,
                             params)
        assert sum(before.values()) > 0 and sum(year.values()) > 0
        for c in h["cells"]:
            n = now.get(c["id"], 0)
            assert c["count"] == n
            assert c["changeFromPrevious"] == n - before.get(c["id"], 0)
            assert c["changeFromLastYear"] == n - year.get(c["id"], 0)


def _walk(value: Any, key: str | None = None) -> list[tuple[str | None, Any]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _walk(v, k)]
    if isinstance(value, list):
        return [p for v in value for p in _walk(v, key)]
    return [(key, value)]


@pytest.mark.parametrize("role", ["PUBLIC", "RESIDENT", "GRID_WORKER"])
def test_callers_without_exact_counts_never_see_a_count_under_3(
        gql: GraphQLClient, county: GraphQLClient, token: Minter, role: str) -> None:
    # A grid worker's scope is one cell far from the box: everything here is outside it. They
    # count on hexagons (grid cells are refused them: test_grid_cells_are_refused_...).
    caller = gql if role == "PUBLIC" else gql.as_(token(role, *(
        ["371329002001001"] if role == "GRID_WORKER" else []), sub=f"{role.lower()}-heat"))
    box = {"west": 118.62, "south": 34.90, "east": 118.66, "north": 34.93}
    asked = {"b": box, **MONTH, "r": "H3_8"}
    exact = {c["id"]: c for c in county.data(HEATMAP, asked)["heatmap"]["cells"]}
    assert {1, 2} <= {c["count"] for c in exact.values()}  # the month has small counts
    body = caller(HEATMAP, asked)
    assert "errors" not in body
    for key, value in _walk(body):
        if key == "count" and value is not None:
            assert value >= 3
    h = body["data"]["heatmap"]
    assert h["exact"] is False
    for c in h["cells"]:
        true = exact[c["id"]]
        if true["count"] < 3:
            assert c["count"] is None and c["withheld"] is True
            assert c["changeFromPrevious"] is None and c["changeFromLastYear"] is None
        else:
            assert c["count"] == true["count"] and c["withheld"] is False
        for field in ("changeFromPrevious", "changeFromLastYear"):
            if c[field] is not None:  # never reveals an earlier count under 3
                assert c[field] == true[field] and true["count"] - true[field] >= 3
    assert any(c["withheld"] for c in h["cells"])


def test_planners_see_exact_counts_of_whole_months(gql: GraphQLClient, county: GraphQLClient,
                                                   token: Minter) -> None:
    planner = gql.as_(token("PLANNER", sub="planner-heat"))
    h = heatmap(planner, MONTH)
    exact = heatmap(county, MONTH)
    assert h["exact"] is True and not any(c["withheld"] for c in h["cells"])
    assert [c["count"] for c in h["cells"]] == [c["count"] for c in exact["cells"]]
    assert {1, 2} <= {c["count"] for c in h["cells"]}


@pytest.mark.parametrize("role", ["PUBLIC", "PLANNER", "RESIDENT", "COMMUNITY_STAFF"])
@pytest.mark.parametrize("period", [WEEK, {"from": "2024-03-01T00:00:00+08:00",
                                           "to": "2024-03-31T00:00:00+08:00"},
                                    {"from": "2024-03-01T00:00:00Z",
                                     "to": "2024-04-01T00:00:00+08:00"}])
def test_periods_finer_than_a_month_are_refused_to_all_but_the_county(
        gql: GraphQLClient, county: GraphQLClient, token: Minter, role: str,
        period: dict[str, str]) -> None:
    caller = gql if role == "PUBLIC" else gql.as_(token(role, *(
        ["371329001001"] if role == "COMMUNITY_STAFF" else []), sub=f"{role.lower()}-heat"))
    error = caller.error(HEATMAP, {"b": COUNTY_BOX, **period})
    assert error["extensions"]["code"] == "PERIOD_TOO_FINE"
    assert error["extensions"]["field"] in ("from", "to")
    assert heatmap(county, period)["cells"]


def _brute_force_gi(counts: list[int], near: list[set[int]]) -> list[float]:
    n = len(counts)
    mean = sum(counts) / n
    s = math.sqrt(sum(x * x for x in counts) / n - mean * mean)
    out = []
    for i in range(n):
        hood = near[i] | {i}
        w = len(hood)
        local = sum(counts[j] for j in hood)
        out.append((local - mean * w) / (s * math.sqrt((n * w - w * w) / (n - 1))))
    return out


def _class(z: float) -> str:
    p = math.erfc(abs(z) / math.sqrt(2))
    for level, cut in ((99, 0.01), (95, 0.05), (90, 0.10)):
        if p < cut:
            return f"{'HOT' if z > 0 else 'COLD'}_{level}"
    return "NOT_SIGNIFICANT"


def test_gi_star_matches_a_brute_force_computation(county: GraphQLClient,
                                                   db: psycopg.Connection) -> None:
    cells = heatmap(county, WHOLE)["cells"]
    ids = [c["id"] for c in cells]
    index = {code: i for i, code in enumerate(ids)}
    near: list[set[int]] = [set() for _ in ids]
    for a, b in db.execute("SELECT a.code, b.code FROM grid_cells a JOIN grid_cells b "
                           "ON a.code <> b.code AND ST_Intersects(a.geom, b.geom)"):
        if a in index and b in index:
            near[index[a]].add(index[b])
    direct = direct_counts(db, "cell_code", WHOLE["from"], WHOLE["to"])
    z = _brute_force_gi([direct.get(code, 0) for code in ids], near)
    for c, expected in zip(cells, z, strict=True):
        assert c["zScore"] == pytest.approx(expected, abs=1e-9)
        assert c["pValue"] == pytest.approx(math.erfc(abs(expected) / math.sqrt(2)), abs=1e-9)
        assert c["hotspot"] == _class(expected)
    assert {"HOT_99", "NOT_SIGNIFICANT"} <= {c["hotspot"] for c in cells}


PLANTED = """
SELECT t.compound_code, count(*)::float / max(cp.households) AS rate,
       mode() WITHIN GROUP (ORDER BY t.{key}) AS cell
FROM tickets t JOIN compounds cp ON cp.code = t.compound_code
GROUP BY 1 ORDER BY 2 DESC LIMIT 9
"""


@pytest.mark.parametrize(("resolution", "key", "at_least"),
                         # Gi* pools the county's cells only (no empty hexagons beyond it
                         # pulling the mean down): 5 of the 8 small H3_9 hexagons stand out.
                         [("H3_9", "h3_9", 5), ("GRID_CELL", "cell_code", 6)])
def test_demo_hot_spots_come_out_hot(county: GraphQLClient, db: psycopg.Connection,
                                     resolution: str, key: str, at_least: int) -> None:
    # The demo plants 8 compounds with 3x the ticket rate (华丰现代城 among the top with its
    # 26 a month): they are the 8 highest rates per household, well clear of the 9th.
    rows = db.execute(PLANTED.format(key=key)).fetchall()
    assert rows[7][1] > 1.2 * rows[8][1]
    cells = {c["id"]: c for c in heatmap(county, WHOLE, r=resolution)["cells"]}
    hot = [cells[f"{cell:x}" if isinstance(cell, int) else cell] for _, _, cell in rows[:8]]
    significant = [c for c in hot if c["hotspot"].startswith("HOT") and c["pValue"] < 0.05]
    assert len(significant) >= at_least, [(c["id"], c["hotspot"], c["pValue"]) for c in hot]
    assert all(not c["hotspot"].startswith("COLD") for c in hot)
    assert hot[0]["hotspot"] == "HOT_99"  # 华丰现代城


@pytest.mark.parametrize(("resolution", "res"), [("H3_8", 8), ("H3_9", 9)])
def test_h3_counts_equal_latlng_to_cell_of_the_points(county: GraphQLClient,
                                                      db: psycopg.Connection, resolution: str,
                                                      res: int) -> None:
    points = db.execute("SELECT ST_X(geom), ST_Y(geom) FROM tickets WHERE created_at >= %s "
                        "AND created_at < %s", (QUARTER["from"], QUARTER["to"])).fetchall()
    expected = Counter(h3.latlng_to_cell(lat, lon, res) for lon, lat in points)
    h = heatmap(county, QUARTER, r=resolution)
    got = {c["id"]: c["count"] for c in h["cells"]}
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert 0 in got.values()
    for c in h["cells"][:20]:
        assert h3.is_valid_cell(c["id"]) and h3.get_resolution(c["id"]) == res
        ring = c["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 7
        lat, lon = h3.cell_to_latlng(c["id"])
        assert min(p[0] for p in ring) < lon < max(p[0] for p in ring)


def test_gcj02_geometry_is_shifted_as_the_datum_says(county: GraphQLClient) -> None:
    for resolution in ("GRID_CELL", "H3_8"):
        wgs = heatmap(county, QUARTER, r=resolution)["cells"]
        gcj = heatmap(county, QUARTER, r=resolution, crs="GCJ02")["cells"]
        assert [c["id"] for c in gcj] == [c["id"] for c in wgs]
        for a, b in zip(wgs[:25], gcj[:25], strict=True):
            pa, pb = _positions(a["geometry"]), _positions(b["geometry"])
            assert len(pa) == len(pb)
            for (x, y), (gx, gy) in zip(pa, pb, strict=True):
                ex, ey = wgs84_to_gcj02(x, y)
                assert gx == pytest.approx(ex, abs=1e-9) and gy == pytest.approx(ey, abs=1e-9)
                assert abs(gx - x) > 0.003  # about 500 m here


def _positions(g: dict[str, Any]) -> list[tuple[float, float]]:
    rings = g["coordinates"] if g["type"] == "Polygon" else [r for p in g["coordinates"] for r in p]
    return [(p[0], p[1]) for ring in rings for p in ring]


@pytest.mark.parametrize(("change", "field"), [
    ({"from": "2024-03-01T00:00:00+08:00", "to": "2024-03-01T00:00:00+08:00"}, "from"),
    ({"from": "2024-03-02T00:00:00+08:00", "to": "2024-03-01T00:00:00+08:00"}, "from"),
    ({"from": "2020-01-01T00:00:00+08:00", "to": "2023-01-02T00:00:00+08:00"}, "to"),
    # Periods whose comparisons fall before year 1 or after year 9999 (found by fuzzing).
    ({"from": "0001-01-01T00:00:00+00:00", "to": "0001-03-01T00:00:00+00:00"}, "from"),
    ({"from": "9998-10-01T00:00:00+00:00", "to": "9999-12-31T23:59:59+00:00"}, "to"),
    ({"cat": "C9"}, "categoryCode"),
    ({"item": "P99"}, "itemCode"),
    ({"cat": "C5", "item": "P01"}, "itemCode"),
    ({"b": {"west": 118.6, "south": 34.9, "east": 118.7, "north": 34.9}, "r": "H3_9"}, "bbox"),
    ({"b": {"west": 118.7, "south": 34.88, "east": 118.6, "north": 34.96}}, "bbox.west"),
])
def test_bad_inputs_have_codes(county: GraphQLClient, change: dict[str, Any], field: str) -> None:
    error = county.error(HEATMAP, {"b": COUNTY_BOX, **QUARTER, **change})
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"].get("field") == field
    assert error["message"] != "Unexpected error."


def test_exactly_three_years_is_allowed_and_unknown_status_is_refused(
        county: GraphQLClient) -> None:
    h = heatmap(county, {"from": "2021-07-01T00:00:00+08:00", "to": "2024-07-01T00:00:00+08:00"})
    assert h["cells"]
    error = county.error(HEATMAP, {"b": COUNTY_BOX, **QUARTER, "s": ["LOST"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_geojson_route_matches_graphql_and_is_private(client: TestClient, county: GraphQLClient,
                                                      token: Minter) -> None:
    params = {"bbox": "118.60,34.88,118.71,34.96", **WEEK, "resolution": "H3_8",
              "crs": "GCJ02"}
    auth = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='county-geojson')}"}
    response = client.get("/heatmap.geojson", params=params, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["vary"] == "Authorization"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    gql_cells = heatmap(county, WEEK, r="H3_8", crs="GCJ02")["cells"]
    assert [f["id"] for f in body["features"]] == [c["id"] for c in gql_cells]
    for f, c in zip(body["features"], gql_cells, strict=True):
        assert f["geometry"] == c["geometry"]
        assert f["properties"]["count"] == c["count"]
        assert f["properties"]["hotspot"] == c["hotspot"]
    public = client.get("/heatmap.geojson", params={**params, **MONTH})
    assert public.status_code == 200
    assert all(f["properties"]["count"] is None or f["properties"]["count"] >= 3
               for f in public.json()["features"])
    assert any(f["properties"]["withheld"] for f in public.json()["features"])


@pytest.mark.parametrize("params", [
    {"bbox": "1,2,3", **QUARTER},
    {"bbox": "118.6,34.88,118.71,34.96", "from": "yesterday", "to": QUARTER["to"]},
    {"bbox": "118.6,34.88,118.71,34.96", **QUARTER, "status": "LOST"},
    {"bbox": "118.6,34.88,118.71,34.96", **QUARTER, "resolution": "H3_12"},
    {"bbox": "118.6,34.88,118.71,34.96", **QUARTER, "crs": "MARS"},
    {"bbox": "118.6,34.88,118.71,34.96", "to": QUARTER["to"]},
])
def test_geojson_route_reports_bad_input_as_400(client: TestClient,
                                                params: dict[str, str]) -> None:
    response = client.get("/heatmap.geojson", params=params)
    assert response.status_code == 400, response.text
    assert http_error(response.json())["code"] == "BAD_USER_INPUT"


def test_public_z_scores_are_coarse_and_absent_for_sparse_neighbourhoods(
        gql: GraphQLClient, county: GraphQLClient, db: psycopg.Connection) -> None:
    # An exact z-score is linear in its neighbourhood's total, and in a sparse month one
    # ticket would light up its own block: the public gets 0.1 steps, and nothing there.
    # Every hexagon of the county (the box reaches past it), so each one's neighbours are
    # all in the answer; on H3_8, the public's one resolution, in February 2024, a month with
    # a neighbourhood of fewer than 3 tickets (at the county's edge).
    february = {"from": "2024-02-01T00:00:00+08:00", "to": "2024-03-01T00:00:00+08:00"}
    asked = {"b": WIDE_BOX, **february, "r": "H3_8"}
    exact = county.data(HEATMAP, asked)["heatmap"]["cells"]
    public = gql.data(HEATMAP, asked)["heatmap"]["cells"]
    count = {c["id"]: c["count"] for c in exact}
    pooled = {a: n + sum(count.get(b, 0) for b in h3.grid_ring(a, 1))
              for a, n in count.items()}
    assert any(c["zScore"] is None for c in public) and any(c["zScore"] for c in public)
    for e, p in zip(exact, public, strict=True):
        if pooled[p["id"]] < 3:
            assert p["zScore"] is None and p["pValue"] is None and p["hotspot"] is None
        else:
            assert p["zScore"] == round(e["zScore"], 1)
            assert p["hotspot"] == _class(p["zScore"])


CREATE = """mutation ($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { code } errors { code } } }"""


def test_every_ticket_has_its_hexagons_also_a_new_one(gql: GraphQLClient, token: Minter,
                                                      db: psycopg.Connection) -> None:
    resident = gql.as_(token("RESIDENT", sub="resident-heat"))
    out = resident.data(CREATE, {"input": {"point": {"lon": 118.6571, "lat": 34.9183},
                                           "itemCode": "P11", "description": "热力图测试",
                                           "channel": "ONLINE"}})["createTicket"]
    assert out["errors"] == []
    new = db.execute("SELECT ST_X(geom), ST_Y(geom), h3_9, h3_8 FROM tickets WHERE code = %s",
                     (out["ticket"]["code"],)).fetchone()
    assert new is not None and new[2] == h3.str_to_int(h3.latlng_to_cell(new[1], new[0], 9))
    assert new[3] == h3.str_to_int(h3.latlng_to_cell(new[1], new[0], 8))
    wrong = db.execute("SELECT count(*) FROM tickets WHERE h3_9 IS NULL OR h3_8 IS NULL").fetchone()
    assert wrong == (0,)


def test_staff_in_scope_count_on_hexagons_with_small_counts_withheld(
        gql: GraphQLClient, county: GraphQLClient, token: Minter) -> None:
    # Staff see their own tickets as records; their heat map is the public's: hexagons, which
    # cross their scope's borders, with counts under 3 withheld (grid cells are refused them).
    community = "371329001001"
    staff = gql.as_(token("COMMUNITY_STAFF", community, sub="staff-heat"))
    error = staff.error(HEATMAP, {"b": COUNTY_BOX, **MONTH, "r": "GRID_CELL"})
    assert error["extensions"] == {"code": "FILTER_NOT_ALLOWED", "field": "resolution"}
    mine = heatmap(staff, MONTH)
    assert (mine["resolution"], mine["exact"]) == ("H3_8", False)
    exact = {c["id"]: c for c in heatmap(county, MONTH, r="H3_8")["cells"]}
    assert mine["cells"] and {c["id"] for c in mine["cells"]} == exact.keys()
    for c in mine["cells"]:
        true = exact[c["id"]]["count"]
        assert (c["count"], c["withheld"]) == ((true, False) if true >= 3 else (None, True))
    assert any(c["withheld"] for c in mine["cells"])


BOXES = [
    {"west": 118.650, "south": 34.912, "east": 118.660, "north": 34.920},  # a few cells
    {"west": 118.655, "south": 34.915, "east": 118.656, "north": 34.916},  # one or two
    {"west": 118.55, "south": 34.85, "east": 118.64, "north": 34.93},  # over the county's edge
    {"west": 118.66, "south": 34.90, "east": 118.80, "north": 35.00},
]


@pytest.mark.parametrize("resolution", ["GRID_CELL", "H3_8", "H3_9"])
def test_gi_star_classes_do_not_depend_on_the_box(county: GraphQLClient, gql: GraphQLClient,
                                                  token: Minter, resolution: str) -> None:
    """Gi* runs over the whole county for the period and category, so panning the map never
    changes a cell's class; for the public too (its z-scores are rounded, the same way; it
    asks for one month and no category)."""
    # Grid cells and H3_9 are the county office's and planners' only: a planner asks for one
    # month there.
    public = gql if resolution == "H3_8" else gql.as_(token("PLANNER", sub="planner-gi"))
    for client, asked in ((county, {**WHOLE, "cat": "C2"}), (public, MONTH)):
        whole = {c["id"]: c for c in heatmap(client, asked, r=resolution)["cells"]}
        for box in BOXES:
            part = client.data(HEATMAP, {"b": box, **asked, "r": resolution})["heatmap"]["cells"]
            assert part and len(part) < len(whole)
            for c in part:
                assert (c["zScore"], c["pValue"], c["hotspot"]) == (
                    whole[c["id"]]["zScore"], whole[c["id"]]["pValue"],
                    whole[c["id"]]["hotspot"]), (box, c["id"])


@pytest.mark.parametrize("resolution", ["H3_8", "H3_9"])
def test_no_hexagon_outside_the_county_is_shown(county: GraphQLClient, db: psycopg.Connection,
                                                resolution: str) -> None:
    cells = county.data(HEATMAP, {"b": WIDE_BOX, **QUARTER, "r": resolution})["heatmap"]["cells"]
    res = int(resolution[-1])
    outside = db.execute(
        "SELECT count(*) FROM unnest(%s::text[]) h(id), (SELECT ST_Union(geom) AS g FROM streets) c "
        "WHERE ST_Area(ST_Intersection(ST_GeomFromGeoJSON(%s::jsonb -> h.id), c.g)) = 0",
        ([c["id"] for c in cells],
         json.dumps({c["id"]: c["geometry"] for c in cells}))).fetchone()
    assert outside == (0,)
    # Every hexagon that holds a ticket of the period is there.
    start, end = QUARTER["from"], QUARTER["to"]
    direct = direct_counts(db, f"h3_{res}", start, end)
    assert {f"{k:x}" for k in direct} <= {c["id"] for c in cells}
    assert {h3.get_resolution(c["id"]) for c in cells} == {res}
