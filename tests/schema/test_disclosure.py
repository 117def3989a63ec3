"""The disclosure rule on every route that shows tickets: a scan of every answer the public
and an out-of-scope staff member get, for ticket codes and for counts of 1 and 2."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import psycopg
import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQLClient, Minter, http_error
from tests.schema import test_area_stats
from tests.schema.test_area_stats import COMMUNITY

CODE = re.compile(r"T\d{8}-\d{7}")
# The centre of the county seat, where tickets are densest.
BOX = (118.645, 34.910, 118.665, 34.925)
MONTH = ("2024-03-01T00:00:00+08:00", "2024-04-01T00:00:00+08:00")
COUNT_KEYS = {"count", "tickets"}

LAYER = "query ($b: BBoxInput) { layer(name: TICKETS, bbox: $b) }"
HEATMAP = """query ($b: BBoxInput!, $from: DateTime!, $to: DateTime!, $r: HeatmapResolution!) {
  heatmap(bbox: $b, from: $from, to: $to, resolution: $r) {
    exact cells { id count withheld changeFromPrevious changeFromLastYear } } }"""
MONTHLY = """query ($code: String!) {
  compoundMonthlyTickets(compoundCode: $code, from: "2023-01", to: "2024-06") {
    month tickets } }"""


def _box(box: tuple[float, ...] = BOX) -> dict[str, float]:
    return dict(zip(("west", "south", "east", "north"), box, strict=True))


def _tiles(z: int, box: tuple[float, ...] = BOX) -> Iterator[tuple[int, int]]:
    def tile(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        return (int((lon + 180) / 360 * n),
                int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))

    (x0, y0), (x1, y1) = tile(box[0], box[3]), tile(box[2], box[1])
    return ((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))


def _counts(value: Any, key: str | None = None) -> Iterator[Any]:
    """Every value held under a count-like key, anywhere in a JSON answer."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _counts(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _counts(v, key)
    elif key in COUNT_KEYS:
        yield value


class Answers:
    """Every answer about tickets one caller gets, as text and as the counts in it. Tiles
    are whole squares of the map: features of cells in `own` (the caller's scope, which
    they see exactly) are left out of the counts."""

    def __init__(self, client: TestClient, token: str | None, own: str | None = None) -> None:
        self.client = client
        self.own = own
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.texts: list[str] = []
        self.counts: list[Any] = []

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables},
                                    headers=self.headers)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        self._json(response.text, response.json())
        data: dict[str, Any] = response.json()["data"]
        return data

    def get(self, path: str, **params: str) -> Any:
        # No `params` when there are none: an empty mapping would replace the path's query.
        response = self.client.get(path, params=params or None, headers=self.headers)
        assert response.status_code == 200, (path, params, response.text)
        if response.headers["content-type"].startswith("application/vnd.mapbox-vector-tile"):
            self.texts.append(response.content.decode("latin-1"))
            for layer in mapbox_vector_tile.decode(response.content).values():
                self.counts += [f["properties"].get("count") for f in layer["features"]
                                if not self._own(f["properties"])]
            return None
        self._json(response.text, response.json())
        return response.json()

    def _own(self, properties: dict[str, Any]) -> bool:
        cell = properties.get("cell_code") or properties.get("id")
        return bool(self.own and isinstance(cell, str) and cell.startswith(self.own))

    def _json(self, text: str, body: Any) -> None:
        self.texts.append(text)
        self.counts += list(_counts(body))


def every_answer(client: TestClient, db: psycopg.Connection, token: str | None,
                 own: str | None = None) -> Answers:
    """Ask every route that shows tickets about BOX (and, where there is no box, the county)."""
    a = Answers(client, token, own)
    a.graphql(LAYER, {"b": _box()})
    a.graphql(LAYER, {})
    # H3_8 for everyone; grid cells (which ticket tiles count for all time) and H3_9 (whose
    # months an H3_8 hexagon's would be differenced against) only for callers with exact
    # counts (test_differencing.py asks every heat-map route for them).
    for resolution in ("H3_8", "H3_9", "GRID_CELL"):
        asked = a.client.post("/graphql", headers=a.headers, json={
            "query": HEATMAP, "variables": {"b": _box(), "from": MONTH[0], "to": MONTH[1],
                                            "r": resolution}}).json()
        if "errors" in asked:
            assert resolution != "H3_8"
            assert asked["errors"][0]["extensions"] == {"code": "FILTER_NOT_ALLOWED",
                                                        "field": "resolution"}, asked
            continue
        a.graphql(HEATMAP, {"b": _box(), "from": MONTH[0], "to": MONTH[1], "r": resolution})
        a.get("/heatmap.geojson", bbox=",".join(map(str, BOX)), resolution=resolution,
              **{"from": MONTH[0], "to": MONTH[1]})
    compounds = [r[0] for r in db.execute(
        "SELECT code FROM compounds WHERE ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, "
        "4326)) ORDER BY code LIMIT 12", BOX)]
    assert compounds
    for code in compounds:
        a.graphql(MONTHLY, {"code": code})
    url: str | None = "/ogc/collections/tickets/items?limit=200&bbox=" + ",".join(map(str, BOX))
    squares = []
    while url:
        page = a.get(url)
        squares += [f["id"] for f in page["features"] if not f["properties"]["precise"]]
        url = next((link["href"].removeprefix("http://testserver") for link in page["links"]
                    if link["rel"] == "next"), None)
    for square in squares[:5]:
        a.get(f"/ogc/collections/tickets/items/{square}")
    for z in range(12, 17):
        for x, y in _tiles(z):
            a.get(f"/tiles/tickets/{z}/{x}/{y}.mvt")
    # Ticket tiles count every ticket for callers without exact counts: a month is refused
    # them (all time minus it would give the other months' count); the others may ask it.
    month = {"from": "2024-03-01", "to": "2024-03-31"}
    x, y = next(iter(_tiles(15)))
    answer = a.client.get(f"/tiles/tickets/15/{x}/{y}.mvt", params=month, headers=a.headers)
    if answer.status_code == 400:
        assert http_error(answer.json())["code"] == "FILTER_NOT_ALLOWED", answer.text
    else:
        for z in range(12, 17):
            for x, y in _tiles(z):
                a.get(f"/tiles/tickets/{z}/{x}/{y}.mvt", **month)
    for x, y in _tiles(13):
        a.get(f"/tiles/heatmap/13/{x}/{y}.mvt", **{"from": MONTH[0], "to": MONTH[1]})
    return a


@pytest.fixture(scope="module")
def elsewhere(db: psycopg.Connection) -> str:
    """A community that lies more than 500 m from BOX."""
    row = db.execute(
        "SELECT code FROM communities WHERE NOT ST_DWithin(geom::geography, ST_MakeEnvelope("
        "%s, %s, %s, %s, 4326)::geography, 500) ORDER BY code LIMIT 1", BOX).fetchone()
    assert row is not None
    code: str = row[0]
    return code


@pytest.fixture(scope="module")
def outsider(elsewhere: str, token: Minter) -> str:
    """A community staff member of a community far from BOX."""
    return token("COMMUNITY_STAFF", elsewhere, sub="staff-elsewhere")


@pytest.mark.parametrize("who", ["PUBLIC", "OUT_OF_SCOPE_STAFF", "RESIDENT"])
def test_no_answer_shows_a_ticket_code_or_a_count_of_1_or_2(
        client: TestClient, db: psycopg.Connection, token: Minter, outsider: str,
        elsewhere: str, who: str) -> None:
    bearer = {"PUBLIC": None, "OUT_OF_SCOPE_STAFF": outsider,
              "RESIDENT": token("RESIDENT", sub="resident-elsewhere")}[who]
    answers = every_answer(client, db, bearer, elsewhere if who == "OUT_OF_SCOPE_STAFF" else None)
    text = "".join(answers.texts)
    assert not CODE.search(text), CODE.search(text)
    shown = [c for c in answers.counts if c is not None]
    assert not {1, 2} & set(shown)
    assert shown and min(shown) >= 3  # the scan saw counts: it was not looking at nothing
    assert None in answers.counts  # and withheld ones


def test_the_same_scan_finds_codes_and_small_counts_for_the_county_office(
        client: TestClient, db: psycopg.Connection, token: Minter) -> None:
    # The scan can fail: the county office sees records and exact counts on the same routes.
    answers = every_answer(client, db, token("COUNTY_OFFICE", sub="county-scan"))
    assert CODE.search("".join(answers.texts))
    assert {1, 2} <= set(answers.counts)


def test_planners_see_exact_counts_but_no_record(client: TestClient, db: psycopg.Connection,
                                                 token: Minter) -> None:
    answers = every_answer(client, db, token("PLANNER", sub="planner-scan"))
    assert not CODE.search("".join(answers.texts))
    assert {1, 2} <= set(answers.counts)


@pytest.mark.parametrize("who", ["PUBLIC", "PLANNER", "OUT_OF_SCOPE_STAFF"])
def test_every_route_refuses_periods_finer_than_a_month(
        client: TestClient, token: Minter, outsider: str, who: str) -> None:
    bearer = {"PUBLIC": None, "PLANNER": token("PLANNER", sub="planner-scan"),
              "OUT_OF_SCOPE_STAFF": outsider}[who]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    day = ("2024-03-05T00:00:00+08:00", "2024-03-06T00:00:00+08:00")
    body = client.post("/graphql", headers=headers, json={"query": HEATMAP, "variables": {
        "b": _box(), "from": day[0], "to": day[1], "r": "H3_8"}}).json()
    assert body["errors"][0]["extensions"]["code"] == "PERIOD_TOO_FINE"
    period = {"from": day[0], "to": day[1]}
    x, y = next(_tiles(13))
    for path, params in (("/heatmap.geojson", {"bbox": ",".join(map(str, BOX)), **period}),
                         (f"/tiles/heatmap/13/{x}/{y}.mvt", period),
                         (f"/tiles/tickets/13/{x}/{y}.mvt", {"from": "2024-03-05",
                                                             "to": "2024-03-05"}),
                         (f"/tiles/tickets/16/{x * 8}/{y * 8}.mvt", {"from": "2024-03-02"})):
        response = client.get(path, params=params, headers=headers)
        assert response.status_code == 400, (path, response.text)
        assert "PERIOD_TOO_FINE" in response.text


AREA_STATS = """query ($from: Date!, $to: Date!) {
  areaStats(level: COMMUNITY, from: $from, to: $to) { code tickets } }"""


@pytest.mark.parametrize(("first", "last", "field"), [("2024-01-02", "2024-01-31", "from"),
                                                      ("2024-01-01", "2024-01-30", "to")])
def test_area_statistics_and_their_export_take_whole_months(
        client: TestClient, token: Minter, first: str, last: str, field: str) -> None:
    planner = token("PLANNER", sub="planner-stats")
    headers = {"Authorization": f"Bearer {planner}"}
    body = client.post("/graphql", headers=headers, json={
        "query": AREA_STATS, "variables": {"from": first, "to": last}}).json()
    assert body["errors"][0]["extensions"] == {"code": "PERIOD_TOO_FINE", "field": field}
    export = client.get("/exports/area-stats.csv", headers=headers,
                        params={"level": "COMMUNITY", "from": first, "to": last})
    assert export.status_code == 400 and http_error(export.json())["code"] == "PERIOD_TOO_FINE"
    whole = client.post("/graphql", headers=headers, json={
        "query": AREA_STATS, "variables": {"from": "2024-01-01", "to": "2024-01-31"}}).json()
    assert "errors" not in whole and len(whole["data"]["areaStats"]) == 43


# The area-statistics tests' hand-built tickets of March 2019, as a fixture here too.
hand_built = test_area_stats.hand_built

AREA_FIGURES = """query ($code: String!) {
  areaStats(level: COMMUNITY, code: $code, from: "2019-03-01", to: "2019-03-31") {
    tickets resolved onTimeRate meanHandlingHours rated meanRating monthOnMonth } }"""


@pytest.mark.usefixtures("hand_built")
def test_area_rates_and_means_are_shown_only_over_counts_that_are(
        gql: GraphQLClient, token: Minter) -> None:
    # The hand-built community: 4 tickets in March 2019 (3 resolved, 2 rated: 5 and 3),
    # 2 in February. A mean over 2 ratings, or a change on 2, would give the small count away;
    # 3 resolved of 4 would read "1 unresolved", so neither it nor a rate or mean over it is
    # shown.
    inside = gql.as_(token("STREET_OFFICER", "371329001", sub="officer-inside"))
    outside = gql.as_(token("STREET_OFFICER", "371329002", sub="officer-outside"))
    [mine] = inside.data(AREA_FIGURES, {"code": COMMUNITY})["areaStats"]
    [theirs] = outside.data(AREA_FIGURES, {"code": COMMUNITY})["areaStats"]
    assert (mine["rated"], mine["meanRating"], mine["monthOnMonth"]) == (2, 4.0, 1.0)
    assert (mine["tickets"], mine["resolved"]) == (4, 3)
    assert mine["onTimeRate"] is not None and mine["meanHandlingHours"] is not None
    # Outside the officer's scope no count of the month at all (test_differencing.py).
    assert (theirs["tickets"], theirs["resolved"]) == (None, None)
    assert (theirs["rated"], theirs["meanRating"], theirs["monthOnMonth"]) == (None, None, None)
    assert theirs["onTimeRate"] is None and theirs["meanHandlingHours"] is None
