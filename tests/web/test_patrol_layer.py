"""The patrol coverage layer 巡查覆盖 on every way out (GraphQL `layer`, vector tiles, OGC API
Features read by GDAL): the same numbers as `patrolCoverage`, for whom `patrolCoverage` is and
only inside their scope; the public gets nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from db.vocabulary import SHANGHAI
from tests.conftest import GraphQLClient, Minter, http_error, serving
from tests.web.test_tiles import features as tile_features
from tests.web.test_tiles import tile_of
from web.settings import Settings

WEEK = "2024-06-26"  # a Wednesday in the demo's last full week
LAYER = """query ($w: Date, $b: BBoxInput) { layer(name: PATROL_COVERAGE, weekOf: $w, bbox: $b) }"""
COVERAGE = """query ($c: String!, $w: Date!) { patrolCoverage(communityCode: $c, weekOf: $w) {
  weekStart cells { cellCode visits buildingsVisited buildings visitsWithFindings
                    proactiveTickets residentTickets } } }"""
NUMBERS = {"visits": "visits", "buildings_visited": "buildingsVisited", "buildings": "buildings",
           "visits_with_findings": "visitsWithFindings", "proactive_tickets": "proactiveTickets",
           "resident_tickets": "residentTickets"}
NOT_READERS = (("GRID_WORKER", "371329001001001"), ("SUPERVISOR", "371329001001C01"),
               ("RESIDENT",), ("UNIT", "PC01"))


def coverage(client: GraphQLClient, community: str, week: str) -> dict[str, dict[str, int]]:
    """patrolCoverage per cell, under the layer's property names."""
    cells = client.data(COVERAGE, {"c": community, "w": week})["patrolCoverage"]["cells"]
    return {c["cellCode"]: {p: c[f] for p, f in NUMBERS.items()} for c in cells}


def numbers(found: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """A layer's features per cell code, the same numbers."""
    return {f["properties"]["code"]: {p: f["properties"][p] for p in NUMBERS} for f in found}


def layer(client: GraphQLClient, week: str | None = WEEK) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.data(LAYER, {"w": week})["layer"]["features"]
    return found


@pytest.fixture(scope="module")
def communities(db: psycopg.Connection) -> list[str]:
    """Three communities: the first, one with a cell not walked in the week, and the last."""
    neglected = db.execute(
        "SELECT g.community_code FROM grid_cells g WHERE NOT EXISTS (SELECT 1 FROM "
        "patrol_visits v WHERE v.cell_code = g.code AND v.at >= '2024-06-24T00:00+08:00' "
        "AND v.at < '2024-07-01T00:00+08:00') ORDER BY g.code LIMIT 1").fetchone()
    codes = [r[0] for r in db.execute("SELECT code FROM communities ORDER BY code")]
    assert neglected is not None
    return [codes[0], neglected[0], codes[-1]]


def test_the_layer_has_the_numbers_of_patrol_coverage(
        gql: GraphQLClient, token: Minter, communities: list[str]) -> None:
    county = gql.as_(token("COUNTY_OFFICE"))
    found = layer(county)
    assert len(found) == 429
    assert {f["properties"]["week_start"] for f in found} == {"2024-06-24"}
    drawn = numbers(found)
    for community in communities:
        expected = coverage(county, community, WEEK)
        assert {c: drawn[c] for c in expected} == expected
    visits = [n["visits"] for n in drawn.values()]
    # 0 visits stands out: some cells were not walked that week, most were.
    assert 0 < visits.count(0) < len(visits) / 3
    assert sum(n["proactive_tickets"] for n in drawn.values()) > 0


def test_tiles_have_the_numbers_of_patrol_coverage_inside_the_scope(
        client: TestClient, gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        communities: list[str]) -> None:
    community = communities[1]
    lon, lat = db.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                          "FROM communities WHERE code = %s) c", (community,)).fetchone()  # type: ignore[misc]
    x, y = tile_of(lon, lat, 14)
    staff = token("COMMUNITY_STAFF", community)
    drawn = numbers(tile_features(client, f"/tiles/patrol_coverage/14/{x}/{y}.mvt?week={WEEK}",
                                  "patrol_coverage", staff))
    expected = coverage(gql.as_(token("COMMUNITY_STAFF", community)), community, WEEK)
    # Only the community's own cells, each with patrolCoverage's numbers.
    assert drawn and set(drawn) <= set(expected)
    assert drawn == {c: expected[c] for c in drawn}
    county = numbers(tile_features(client, f"/tiles/patrol_coverage/14/{x}/{y}.mvt?week={WEEK}",
                                   "patrol_coverage", token("COUNTY_OFFICE")))
    assert set(county) > set(drawn)  # the tile reaches cells outside the community
    response = client.get(f"/tiles/patrol_coverage/14/{x}/{y}.mvt?week={WEEK}",
                          headers={"Authorization": f"Bearer {staff}"})
    assert "private" in response.headers["cache-control"]


def test_the_public_and_other_roles_get_nothing_on_any_route(
        client: TestClient, gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    x, y = tile_of(118.657, 34.918, 14)
    cell = db.execute("SELECT min(code) FROM grid_cells").fetchone()[0]  # type: ignore[index]
    for who in (None, *NOT_READERS):
        bearer = token(*who) if who else None
        caller = gql.as_(bearer) if bearer else gql
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        assert caller.error(LAYER, {"w": WEEK})["extensions"]["code"] == "FORBIDDEN", who
        for path in (f"/tiles/patrol_coverage/14/{x}/{y}.mvt?week={WEEK}",
                     "/tiles/patrol_coverage/3/6/3.mvt",
                     f"/ogc/collections/patrol_coverage/items?week={WEEK}",
                     f"/ogc/collections/patrol_coverage/items/{cell}"):
            response = client.get(path, headers=headers)
            assert response.status_code == 403, (who, path)
            if path.startswith("/tiles"):
                assert http_error(response.json())["code"] == "FORBIDDEN"


def test_a_role_sees_only_the_cells_of_its_scope(
        client: TestClient, gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        communities: list[str]) -> None:
    zone_cells = {r[0] for r in db.execute(
        "SELECT g.code FROM grid_cells g JOIN communities c ON c.code = g.community_code "
        "WHERE c.zone_code = 'Z1'")}
    assert set(numbers(layer(gql.as_(token("ZONE_OFFICER", "Z1"))))) == zone_cells
    community = communities[0]
    staff = token("COMMUNITY_STAFF", community)
    own = {r[0] for r in db.execute("SELECT code FROM grid_cells WHERE community_code = %s",
                                    (community,))}
    assert set(numbers(layer(gql.as_(staff)))) == own
    headers = {"Authorization": f"Bearer {staff}"}
    page = client.get(f"/ogc/collections/patrol_coverage/items?week={WEEK}&limit=1000",
                      headers=headers)
    assert page.status_code == 200 and "private" in page.headers["cache-control"]
    assert {f["id"] for f in page.json()["features"]} == own
    outside = db.execute("SELECT min(code) FROM grid_cells WHERE community_code <> %s",
                         (community,)).fetchone()[0]  # type: ignore[index]
    inside = min(own)
    assert client.get(f"/ogc/collections/patrol_coverage/items/{inside}?week={WEEK}",
                      headers=headers).status_code == 200
    assert client.get(f"/ogc/collections/patrol_coverage/items/{outside}?week={WEEK}",
                      headers=headers).status_code == 404


def test_the_week_is_one_bounded_week_and_only_for_this_layer(
        client: TestClient, gql: GraphQLClient, token: Minter) -> None:
    county = gql.as_(token("COUNTY_OFFICE"))
    far = county.error(LAYER, {"w": "1900-01-01"})
    assert (far["extensions"]["code"], far["extensions"]["field"]) == ("BAD_USER_INPUT", "weekOf")
    other = county.error("{ layer(name: COMPOUNDS, weekOf: \"2024-06-26\") }")
    assert other["extensions"]["field"] == "weekOf"
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE')}"}
    for path in ("/tiles/patrol_coverage/14/13700/6480.mvt?week=2024-13-01",
                 "/tiles/patrol_coverage/14/13700/6480.mvt?week=1900-01-01",
                 "/tiles/compounds/14/13700/6480.mvt?week=2024-06-26",
                 "/ogc/collections/patrol_coverage/items?week=soon",
                 "/ogc/collections/compounds/items?week=2024-06-26"):
        response = client.get(path, headers=headers)
        assert response.status_code == 400, path
    # Without a week, this week (Beijing time).
    this_week = layer(county, None)
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    assert {f["properties"]["week_start"] for f in this_week} == {
        today.fromordinal(today.toordinal() - today.weekday()).isoformat()}


# --- GDAL as the client ----------------------------------------------------------------

@pytest.fixture(scope="module")
def ogc_url(settings: Settings) -> Iterator[str]:
    with serving(settings) as url:
        yield f"{url}/ogc"


def ogrinfo(url: str, bearer: str | None) -> subprocess.CompletedProcess[str]:
    config = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {bearer}"] if bearer else []
    return subprocess.run(["ogrinfo", "-ro", "-al", "-q", *config, f"OAPIF:{url}",
                           "patrol_coverage"], capture_output=True, text=True, timeout=120,
                          check=False)


def gdal_features(text: str) -> dict[str, dict[str, int]]:
    """`code` and the numbers of each feature ogrinfo printed."""
    out: dict[str, dict[str, int]] = {}
    current: dict[str, str] = {}
    for line in [*text.splitlines(), "OGRFeature(end)"]:
        if line.startswith("OGRFeature(") and current:
            out[current["code"]] = {p: int(current[p]) for p in NUMBERS}
            current = {}
        elif " = " in line and "(" in line:
            name, value = line.strip().split(" = ", 1)
            current[name.split(" (")[0]] = value
    return out


def test_gdal_reads_this_weeks_coverage_as_patrol_coverage_counts_it(
        ogc_url: str, gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        communities: list[str]) -> None:
    community = communities[2]
    cell, lon, lat = db.execute(
        "SELECT b.cell_code, ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom)) "
        "FROM buildings b JOIN grid_cells g ON g.code = b.cell_code "
        "WHERE g.community_code = %s ORDER BY b.code LIMIT 1", (community,)).fetchone()  # type: ignore[misc]
    worker = gql.as_(token("GRID_WORKER", cell, sub="gdal-patrol"))
    recorded = worker.data("""mutation ($p: PointInput!) { recordPatrolVisit(input: {point: $p})
      { errors { code } } }""", {"p": {"lon": lon, "lat": lat}})
    assert recorded["recordPatrolVisit"]["errors"] == []
    today = datetime.now(UTC).astimezone(SHANGHAI).date().isoformat()
    staff = token("COMMUNITY_STAFF", community)
    expected = coverage(gql.as_(staff), community, today)
    assert expected[cell]["visits"] >= 1

    done = ogrinfo(ogc_url, staff)
    assert done.returncode == 0, done.stderr
    assert gdal_features(done.stdout) == expected
    public = ogrinfo(ogc_url, None)
    assert gdal_features(public.stdout) == {}
