"""Differencing under the disclosure rule: no two answers a caller without exact counts may get
differ, area by area, by a count of 1 or 2 — not two windows of months, not a filtered and an
unfiltered answer, not two counts of one areaStats row. Each pair is asked as the public (or an
out-of-scope street officer for areaStats) and as a planner: a planner's pairs (exact counts)
do differ by 1 and 2, so the check can fail."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import mapbox_vector_tile
import pytest
from starlette.testclient import TestClient

from resolvers.disclosure import shown_shares
from tests.conftest import Minter, http_error
from tests.schema.test_disclosure import _box, _tiles

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
