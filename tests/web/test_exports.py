"""CSV exports of planner analytics: UTF-8 with a BOM, the same numbers as GraphQL, the same
callers and the same stable error codes."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import datetime
from urllib.parse import unquote

import openpyxl
import pytest
from starlette.testclient import TestClient

from db.vocabulary import CHANNELS
from resolvers import tickets
from resolvers.actor import Role
from tests.conftest import GraphQLClient, Minter, http_error
from tests.schema.planner_callers import ALLOWED, REFUSED, token_of
from web.app import create_app
from web.settings import RateBudget, Settings


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


PLANNER_EXPORTS = ("/exports/coverage.{}?kind=STATION&radiusM=300",
                   "/exports/suggestions.{}?kind=STATION&count=1&radiusM=300",
                   "/exports/area-stats.{}?level=COUNTY&from=2024-06-01&to=2024-06-30")


@pytest.mark.parametrize("role", REFUSED)
def test_only_planners_and_officers_may_export_planner_analytics(
        client: TestClient, token: Minter, role: Role) -> None:
    tok = token_of(token, role)
    for path in PLANNER_EXPORTS:
        for extension in ("csv", "xlsx"):
            status, body, _ = _get(client, path.format(extension), tok)
            assert status == 403 and http_error(body)["code"] == "FORBIDDEN", (path, extension)


@pytest.mark.parametrize("role", ALLOWED)
def test_planners_and_officers_may_export_planner_analytics(
        client: TestClient, token: Minter, role: Role) -> None:
    for path in PLANNER_EXPORTS:
        assert _get(client, path.format("csv"), token_of(token, role))[0] == 200, path


def test_area_stats_csv_withholds_0_as_it_withholds_1(client: TestClient, token: Minter,
                                                      county: GraphQLClient) -> None:
    """Outside the street officer's street a channel with 1 ticket and one with none read the
    same, the items and channels shown are exact, and the tickets not shown are none or at
    least 3 (one month: the disclosure rule for callers without exact counts)."""
    period = "from=2024-03-01&to=2024-03-31"
    officer = token("STREET_OFFICER", "371329002", sub="exports-outside")
    status, body, _ = _get(client, f"/exports/area-stats.csv?level=COMMUNITY&{period}", officer)
    assert status == 200
    exact = {a["code"]: a for a in county.data(
        "{ areaStats(level: COMMUNITY, from: \"2024-03-01\", to: \"2024-03-31\") "
        "{ code tickets channels { key tickets } topItems { key tickets } } }")["areaStats"]}
    seen = {0: False, 1: False}
    for r in _rows(body):
        if r["code"].startswith("371329002"):
            assert r["exact"] == "true"
            continue
        counts = {c["key"]: c["tickets"] for c in exact[r["code"]]["channels"]}
        for channel in CHANNELS:
            n = counts.get(channel, 0)
            if n < 3:
                assert r[f"share_{channel.lower()}"] == "", (r["code"], channel, n)
                seen[min(n, 1)] = True
        shares = [r[f"share_{c.lower()}"] for c in CHANNELS]
        shown = [counts.get(c, 0) for c, share in zip(CHANNELS, shares, strict=True) if share]
        rest = exact[r["code"]]["tickets"] - sum(shown)
        assert all(n >= 3 for n in shown) and (rest >= 3 or (rest == 0 and all(shares))), r
        items = {i["key"]: i["tickets"] for i in exact[r["code"]]["topItems"]}
        listed = [i.split(" ") for i in r["top_items"].split("; ") if i]
        assert all(int(n) == items[key] >= 3 for key, _, n in listed), r
    assert seen == {0: True, 1: True}  # both cases were met


def test_a_bad_token_is_401(client: TestClient) -> None:
    assert _get(client, "/exports/coverage.csv?kind=STATION&radiusM=300", "nonsense")[0] == 401


def _value(text: str) -> object:
    """A cell compared by value: Excel keeps 192.0 as the number 192, and 15 digits."""
    try:
        return float(f"{float(text):.12g}")
    except ValueError:
        return text


def _values(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    return [{k: _value(v) for k, v in r.items()} for r in rows]


def _xlsx_rows(body: bytes) -> list[dict[str, str]]:
    """The first sheet as the CSV reader gives rows: text, empty cells as ""."""
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    sheet = book.worksheets[0]
    values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    return [dict(zip(values[0], row)) for row in values[1:]]


@pytest.mark.parametrize(("path", "title"), [
    ("/exports/coverage.{}?kind=CLINIC&radiusM=500&weight=ELDERLY", "覆盖分析"),
    ("/exports/area-stats.{}?level=COMMUNITY&from=2023-01-01&to=2023-12-31", "区域统计"),
    ("/exports/suggestions.{}?kind=CANTEEN&count=3&radiusM=1000", "选址建议"),
])
def test_xlsx_holds_the_csv_rows(client: TestClient, planner_token: str, path: str,
                                 title: str) -> None:
    _, csv_body, _ = _get(client, path.format("csv"), planner_token)
    status, body, headers = _get(client, path.format("xlsx"), planner_token)
    assert status == 200
    assert headers["content-type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert openpyxl.load_workbook(io.BytesIO(body), read_only=True).sheetnames == [title]
    rows = _xlsx_rows(body)
    assert _values(rows) == _values(_rows(csv_body)) and len(rows) > 0
    name = path.split("/")[2].split(".")[0]
    assert _filenames(headers) == (f"{name}.xlsx", f"{title}.xlsx")


def _filenames(headers: dict[str, str]) -> tuple[str, str]:
    """The ASCII file name and the UTF-8 one (RFC 5987) of a Content-Disposition."""
    disposition = headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.isascii()
    plain = disposition.split('filename="')[1].split('"')[0]
    utf8 = unquote(disposition.split("filename*=UTF-8''")[1])
    return plain, utf8


TICKET_FILTER = "communityCode=371329001001&from=2024-03-01&to=2024-05-31"


def test_tickets_csv_is_what_the_tickets_query_shows(client: TestClient, county: GraphQLClient,
                                                     token: Minter) -> None:
    tok = token("COUNTY_OFFICE", sub="exports-county")
    status, body, headers = _get(client, f"/exports/tickets.csv?{TICKET_FILTER}", tok)
    assert status == 200 and headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["cache-control"] == "private, no-store"
    assert _filenames(headers) == ("tickets.csv", "工单.csv")
    rows = _rows(body)
    got = county.data(
        "{ tickets(filter: {communityCode: \"371329001001\", createdFrom: "
        "\"2024-03-01T00:00:00+08:00\", createdTo: \"2024-06-01T00:00:00+08:00\"}, first: 200) "
        "{ totalCount edges { node { code status itemName createdAt dueAt } } } }")["tickets"]
    assert 0 < got["totalCount"] <= 200
    assert [r["code"] for r in rows] == [e["node"]["code"] for e in got["edges"]]
    for r, e in zip(rows, got["edges"]):
        node = e["node"]
        assert (r["status"], r["item_name"]) == (node["status"], node["itemName"])
        assert datetime.fromisoformat(r["created_at"]) == datetime.fromisoformat(node["createdAt"])
        assert r["created_at"].endswith("+08:00")
    assert "reporter_name" not in rows[0] and "reporter_phone" not in rows[0]
    status, xlsx, headers = _get(client, f"/exports/tickets.xlsx?{TICKET_FILTER}", tok)
    assert status == 200 and _values(_xlsx_rows(xlsx)) == _values(rows)
    assert _filenames(headers) == ("tickets.xlsx", "工单.xlsx")


def test_tickets_export_is_scoped_like_the_tickets_query(client: TestClient, gql: GraphQLClient,
                                                         token: Minter) -> None:
    staff = token("COMMUNITY_STAFF", "371329001002", sub="exports-staff")
    _, body, _ = _get(client, "/exports/tickets.csv?from=2024-01-01&to=2024-06-30", staff)
    rows = _rows(body)
    total = gql.as_(staff).data(
        "{ tickets(filter: {createdFrom: \"2024-01-01T00:00:00+08:00\", createdTo: "
        "\"2024-07-01T00:00:00+08:00\"}, first: 1) { totalCount } }")["tickets"]["totalCount"]
    assert len(rows) == total > 0
    assert {r["community_code"] for r in rows} == {"371329001002"}
    # Another community's tickets are simply not there, as in the tickets query.
    _, body, _ = _get(client, "/exports/tickets.csv?communityCode=371329001001", staff)
    assert _rows(body) == []


@pytest.mark.parametrize("role", [None, "PLANNER"])
def test_the_public_and_planners_cannot_export_tickets(client: TestClient, token: Minter,
                                                       role: str | None) -> None:
    for extension in ("csv", "xlsx"):
        status, body, _ = _get(client, f"/exports/tickets.{extension}",
                               token(role) if role else None)
        assert status == 403 and http_error(body)["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("query", "field"), [
    ("status=OPENED", "status"), ("from=2024-13-01", "from"),
    ("from=2024-03-01&to=2024-02-01", "from"),
])
def test_tickets_export_bad_input(client: TestClient, token: Minter, query: str,
                                  field: str) -> None:
    status, body, _ = _get(client, f"/exports/tickets.csv?{query}", token("COUNTY_OFFICE"))
    assert status == 400 and http_error(body) == {**http_error(body), "code": "BAD_USER_INPUT",
                                                  "field": field}


def test_tickets_export_is_capped_before_any_row(client: TestClient, token: Minter,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tickets, "MAX_EXPORT_ROWS", 25)
    status, body, _ = _get(client, f"/exports/tickets.xlsx?{TICKET_FILTER}",
                           token("COUNTY_OFFICE"))
    assert status == 400 and http_error(body)["code"] == "EXPORT_TOO_LARGE"
    assert "at most 25" in http_error(body)["message"]


def test_exports_draw_on_a_budget_of_their_own(settings: Settings, planner_token: str) -> None:
    """A site solve behind one export runs up to 10 s: a caller gets its burst of exports, then
    429 in the envelope with Retry-After, while GraphQL (another budget) still answers."""
    limited = replace(settings, rate_limits={"exports": RateBudget(0.001, 2),
                                             "graphql": RateBudget(0.001, 5)})
    path = "/exports/coverage.csv?kind=CLINIC&radiusM=500"
    with TestClient(create_app(limited)) as client:
        answers = [_get(client, path, planner_token) for _ in range(3)]
        assert [status for status, _, _ in answers] == [200, 200, 429]
        _, body, headers = answers[2]
        assert http_error(body)["code"] == "RATE_LIMITED" and int(headers["retry-after"]) >= 1
        # another caller (the public, by its address) has a burst of its own
        assert [_get(client, "/exports/tickets.csv", None)[0] for _ in range(3)] == \
            [403, 403, 429]
        assert client.post("/graphql", json={"query": "{ zones { code } }"}).status_code == 200
