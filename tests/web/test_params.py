"""Query-string parameters are parsed once (web/params.py): tiles, the heat map, OGC API
Features and exports accept the same formats and refuse every bad value with a stable code, never a 500."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from starlette.testclient import TestClient

from resolvers.errors import DomainError, ErrorCode
from tests.conftest import Minter, http_error
from web.params import parse_integer, parse_moment

TILE = "/tiles/tickets/15/27184/12988.mvt"
HEAT = "/heatmap.geojson?bbox=118.64,34.90,118.67,34.93"
MONTH = "from=2024-01-01&to=2024-01-31"
STATS = "/exports/area-stats.csv?level=COMMUNITY"
COVERAGE = "/exports/coverage.csv?kind=STATION"
SITES = "/exports/suggestions.csv?kind=STATION"
SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize(("raw", "end", "expected"), [
    ("2024-03-05", False, datetime(2024, 3, 5, tzinfo=SHANGHAI)),
    ("2024-03-05", True, datetime(2024, 3, 6, tzinfo=SHANGHAI)),  # `to` includes the day
    ("2024-03-05T10:00:00", False, datetime(2024, 3, 5, 10, tzinfo=SHANGHAI)),
    ("2024-03-05T10:00:00 08:00", False, datetime(2024, 3, 5, 10, tzinfo=SHANGHAI)),
    ("2024-03-05T02:00:00Z", False, datetime(2024, 3, 5, 10, tzinfo=SHANGHAI)),
])
def test_times_in_every_accepted_form(raw: str, end: bool, expected: datetime) -> None:
    assert parse_moment("to", raw, end=end) == expected


@pytest.mark.parametrize("raw", [
    "20240630",  # the basic format would read as midnight, leaving the day out of `to`
    "2024-W26-7", "2024-182", "2024-06-30T12", "20240630T120000", "2024-06-30T1200",
    "2024-06-30T12:00:00+0800", "2024-06-30 12:00", "2024-6-30", "２０２４-06-30",
    "2024-06-30T12:00:00.1234567",
])
def test_odd_forms_of_a_time_are_refused(raw: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_moment("to", raw, end=True)
    assert (refused.value.code, refused.value.field) == (ErrorCode.BAD_USER_INPUT, "to")


def test_integers_are_bounded_and_capped() -> None:
    assert parse_integer("limit", "5000", low=1, cap=1000) == 1000
    assert parse_integer("z", "16", low=0, high=22) == 16


BAD = [
    # (path, field, code)
    (f"{TILE}?to=9999-12-31", "to", "BAD_USER_INPUT"),
    (f"{TILE}?from=0001-01-01T00:00:00", "from", "BAD_USER_INPUT"),
    (f"{TILE}?from=2024-13-01", "from", "BAD_USER_INPUT"),
    (f"{TILE}?from=yesterday", "from", "BAD_USER_INPUT"),
    (f"{TILE}?to=20240630", "to", "BAD_USER_INPUT"),
    (f"{HEAT}&from=20240101&to=2024-02-01", "from", "BAD_USER_INPUT"),
    (f"{TILE}?from=2024-02-01&to=2024-01-01", "from", "BAD_USER_INPUT"),
    (f"{TILE}?status=OPEN", "status", "BAD_USER_INPUT"),
    (f"{TILE}?status=,", "status", "BAD_USER_INPUT"),
    (f"{TILE}?crs=EPSG3857", "crs", "BAD_USER_INPUT"),
    ("/tiles/tickets/99/0/0.mvt", "z", "BAD_USER_INPUT"),
    ("/tiles/tickets/2/4/0.mvt", "x", "BAD_USER_INPUT"),
    ("/tiles/tickets/2/0/99999999999999999999.mvt", "y", "BAD_USER_INPUT"),
    (f"{HEAT}&from=2024-01-01&to=9999-12-31", "to", "BAD_USER_INPUT"),
    (f"{HEAT}&from=2024-01-01T00:00:00%2B99:00&to=2024-02-01", "from", "BAD_USER_INPUT"),
    (f"{HEAT}&to=2024-02-01", "from", "BAD_USER_INPUT"),
    (f"{HEAT}&{MONTH}&crs=mercator", "crs", "BAD_USER_INPUT"),
    (f"{HEAT}&{MONTH}&bboxCrs=mercator", "bboxCrs", "BAD_USER_INPUT"),
    (f"/heatmap.geojson?bbox=1,2,3&{MONTH}", "bbox", "BAD_USER_INPUT"),
    (f"/heatmap.geojson?bbox=nan,34,118,35&{MONTH}", "bbox", "BAD_USER_INPUT"),
    (f"/heatmap.geojson?bbox=118,34,inf,35&{MONTH}", "bbox", "BAD_USER_INPUT"),
    (f"/heatmap.geojson?bbox=a,b,c,d&{MONTH}", "bbox", "BAD_USER_INPUT"),
    (f"{HEAT}&{MONTH}&status=OPEN", "status", "BAD_USER_INPUT"),
    # Exports read their parameters with the same parsers.
    (f"{STATS}&from=2024-01-01&to=9999-12-31", "to", "BAD_USER_INPUT"),
    (f"{STATS}&from=2024-1-1&to=2024-01-31", "from", "BAD_USER_INPUT"),
    (f"{STATS}&from=2024-W01-1&to=2024-01-31", "from", "BAD_USER_INPUT"),
    (f"{STATS}&to=2024-01-31", "from", "BAD_USER_INPUT"),
    (f"{STATS}&{MONTH}&byZone=yes", "byZone", "BAD_USER_INPUT"),
    (f"{COVERAGE}&radiusM=nan", "radiusM", "BAD_USER_INPUT"),
    (f"{COVERAGE}&radiusM=", "radiusM", "BAD_USER_INPUT"),
    (f"{SITES}&count=2.5&radiusM=500", "count", "BAD_USER_INPUT"),
    (f"{SITES}&count=3&radiusM=500&keepExisting=1", "keepExisting", "BAD_USER_INPUT"),
    (f"/exports/tickets.csv?{MONTH}&status=OPEN", "status", "BAD_USER_INPUT"),
]


@pytest.mark.parametrize(("path", "field", "code"), BAD)
def test_bad_values_on_tiles_the_heat_map_and_exports(client: TestClient, token: Minter, path: str,
                                              field: str, code: str) -> None:
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='params')}"}
    response = client.get(path, headers=headers)
    assert response.status_code == 400, response.text
    error = http_error(response.json())
    assert (error["code"], error["field"]) == (code, field), error


OGC = "/ogc/collections/compounds/items"


@pytest.mark.parametrize(("query", "field"), [
    ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=-1", "limit"), ("limit=1.5", "limit"),
    ("offset=-1", "offset"), ("offset=x", "offset"), ("offset=99999999999999999999", "offset"),
    ("bbox=1,2,3", "bbox"), ("bbox=nan,1,2,3", "bbox"), ("bbox=a,b,c,d", "bbox"),
])
def test_bad_values_on_ogc(client: TestClient, query: str, field: str) -> None:
    response = client.get(f"{OGC}?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] in ("BAD_USER_INPUT", "OFFSET_TOO_LARGE") and body["field"] == field


def test_the_routes_accept_the_same_formats(client: TestClient, token: Minter) -> None:
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='params')}"}
    for period in ("from=2024-01-01&to=2024-01-31",
                   "from=2024-01-01T00:00:00%2B08:00&to=2024-02-01T00:00:00%2B08:00",
                   "from=2024-01-01T00:00:00+08:00&to=2024-02-01T00:00:00+08:00",
                   "from=2024-01-01T00:00:00&to=2024-02-01T00:00:00"):
        tile = client.get(f"{TILE}?{period}&crs=gcj02&status=resolved,closed", headers=headers)
        assert tile.status_code == 200, (period, tile.text)
        heat = client.get(f"{HEAT}&{period}&crs=gcj02&bboxCrs=wgs84&status=resolved,closed",
                          headers=headers)
        assert heat.status_code == 200, (period, heat.text)
        assert heat.json()["from"] == "2024-01-01T00:00:00+08:00"
        assert heat.json()["to"] == "2024-02-01T00:00:00+08:00"
    assert client.get(f"{OGC}?limit=5000&offset=0&bbox=118.64,34.90,118.67,34.93").status_code \
        == 200
