"""CSV exports of planner analytics: UTF-8 with a BOM, the same numbers as GraphQL, the same
callers and the same stable error codes."""

from __future__ import annotations

import csv
import io

import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQLClient, Minter, http_error


def _rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Chinese names
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def planner_token(token: Minter) -> str:
    return token("PLANNER", sub="exports-planner")


def _get(client: TestClient, path: str, tok: str | None) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
    r = client.get(path, headers=headers)
    return r.status_code, r.content, dict(r.headers)


def test_coverage_csv_matches_graphql(client: TestClient, gql: GraphQLClient,
                                      planner_token: str) -> None:
    status, body, headers = _get(client, "/exports/coverage.csv?kind=CLINIC&radiusM=500"
                                         "&weight=ELDERLY", planner_token)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "coverage.csv" in headers["content-disposition"]
    rows = _rows(body)
    got = gql.as_(planner_token).data(
        "{ coverage(kind: CLINIC, radiusM: 500, weight: ELDERLY) { total covered "
        "uncovered(first: 1000) { compound { code } } } }")["coverage"]
    assert len(rows) == 230
    assert sum(float(r["weight"]) for r in rows) == pytest.approx(got["total"])
    assert sum(float(r["weight"]) for r in rows if r["covered"] == "true") == \
        pytest.approx(got["covered"])
    assert {r["compound_code"] for r in rows if r["covered"] == "false"} == \
        {u["compound"]["code"] for u in got["uncovered"]}
    assert any("华丰现代城" == r["compound_name"] for r in rows)
    assert all(r["community_name"].endswith("社区") for r in rows)


def test_suggestions_csv_matches_graphql(client: TestClient, gql: GraphQLClient,
                                         planner_token: str) -> None:
    status, body, _ = _get(client, "/exports/suggestions.csv?kind=CANTEEN&count=4&radiusM=1000",
                           planner_token)
    assert status == 200
    rows = _rows(body)
    got = gql.as_(planner_token).data(
        "{ suggestSites(kind: CANTEEN, count: 4, radiusM: 1000) { optimal curve "
        "sites { rank gain compound { code } } } }")["suggestSites"]
    assert [int(r["rank"]) for r in rows] == [s["rank"] for s in got["sites"]]
    assert [r["compound_code"] for r in rows] == [s["compound"]["code"] for s in got["sites"]]
    assert [float(r["gain"]) for r in rows] == pytest.approx([s["gain"] for s in got["sites"]])
    assert [float(r["share_after"]) for r in rows] == pytest.approx(got["curve"], abs=1e-6)
    assert all(r["optimal"] == "true" for r in rows) and got["optimal"]


def test_area_stats_csv_matches_graphql(client: TestClient, gql: GraphQLClient,
                                        planner_token: str) -> None:
    status, body, _ = _get(client, "/exports/area-stats.csv?level=COMMUNITY&from=2023-01-01"
                                   "&to=2023-12-31", planner_token)
    assert status == 200
    rows = _rows(body)
    got = gql.as_(planner_token).data(
        "{ areaStats(level: COMMUNITY, from: \"2023-01-01\", to: \"2023-12-31\") "
        "{ code name tickets onTimeRate channels { key share } } }")["areaStats"]
    assert [(r["code"], r["name"], int(r["tickets"])) for r in rows] == \
        [(a["code"], a["name"], a["tickets"]) for a in got]
    assert sum(int(r["tickets"]) for r in rows) > 0
    for r, a in zip(rows, got):
        for c in a["channels"]:
            assert float(r[f"share_{c['key'].lower()}"]) == pytest.approx(c["share"], abs=1e-6)


@pytest.mark.parametrize(("path", "role", "status", "code"), [
    ("/exports/coverage.csv?kind=STATION&radiusM=300", None, 403, "FORBIDDEN"),
    ("/exports/area-stats.csv?level=STREET&from=2023-01-01&to=2023-01-31", "GRID_WORKER", 403,
     "FORBIDDEN"),
    ("/exports/coverage.csv?kind=STATION&radiusM=0", "PLANNER", 400, "BAD_USER_INPUT"),
    ("/exports/coverage.csv?kind=HOSPITAL&radiusM=300", "PLANNER", 400, "BAD_USER_INPUT"),
    ("/exports/suggestions.csv?kind=STATION&count=10000&radiusM=300", "PLANNER", 400,
     "BAD_USER_INPUT"),
    ("/exports/suggestions.csv?kind=STATION&count=2&radiusM=6000", "PLANNER", 400,
     "BAD_USER_INPUT"),
    ("/exports/area-stats.csv?level=STREET&from=2023-13-01&to=2023-01-31", "PLANNER", 400,
     "BAD_USER_INPUT"),
    ("/exports/area-stats.csv?level=COMMUNITY&code=1&from=2023-01-01&to=2023-01-31", "PLANNER",
     404, "NOT_FOUND"),
])
def test_errors(client: TestClient, token: Minter, path: str, role: str | None, status: int,
                code: str) -> None:
    tok = token(role, "371329001001001") if role else None
    got, body, headers = _get(client, path, tok)
    assert got == status and headers["content-type"].startswith("application/json")
    assert http_error(body)["code"] == code


def test_a_bad_token_is_401(client: TestClient) -> None:
    assert _get(client, "/exports/coverage.csv?kind=STATION&radiusM=300", "nonsense")[0] == 401
