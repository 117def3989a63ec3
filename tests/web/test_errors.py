"""Every HTTP route outside GraphQL answers errors in GraphQL's envelope with the same stable
codes; OGC API Features and Open311 keep their standards' bodies with the same codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import replace

import orjson
import pytest
from starlette.testclient import TestClient

from resolvers.errors import ErrorCode
from schema import build_schema
from tests.conftest import Minter, http_error
from web.app import create_app
from web.errors import status_of
from web.settings import RateBudget, Settings


@pytest.fixture(scope="module")
def local(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=("127.0.0.1", 50001)) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "body", "code", "field"), [
    ("GET", "/tiles/tickets/15/27184/12988.mvt?status=OPEN", None, "BAD_USER_INPUT", "status"),
    ("GET", "/tiles/nothing/12/0/0.mvt", None, "NOT_FOUND", "layer"),
    ("GET", "/heatmap.geojson?bbox=1,2,3", None, "BAD_USER_INPUT", "bbox"),
    ("GET", "/heatmap.geojson?bbox=100,20,101,21&from=2024-03-01T00:00:00%2B08:00"
     "&to=2024-04-01T00:00:00%2B08:00", None, "OUTSIDE_COVERAGE", "bbox"),
    ("GET", "/exports/area-stats.csv?level=NOWHERE&from=2023-01-01&to=2023-01-31", None,
     "BAD_USER_INPUT", "level"),
    ("POST", "/auth/dev-token", {"role": "MAYOR"}, "UNKNOWN_ROLE", "role"),
    ("POST", "/auth/dev-token", ["COUNTY_OFFICE"], "BAD_USER_INPUT", "body"),
])
def test_route_errors_share_the_graphql_envelope(local: TestClient, token: Minter, method: str,
                                                path: str, body: object, code: str,
                                                field: str | None) -> None:
    headers = {"Authorization": f"Bearer {token('PLANNER', sub='errors')}"} \
        if path.startswith("/exports") else {}
    response = local.request(method, path, json=body, headers=headers)
    error = http_error(response.json())
    assert (error["code"], error["field"]) == (code, field), response.text
    assert response.status_code == status_of(ErrorCode(code))
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]


def test_refusals_before_any_route_share_it_too(client: TestClient, local: TestClient) -> None:
    unauthenticated = local.get("/tiles/tickets/12/3370/1612.mvt",
                                headers={"Authorization": "Bearer not-a-token"})
    assert unauthenticated.status_code == 401
    assert http_error(unauthenticated.json())["code"] == "UNAUTHENTICATED"
    metrics = client.get("/metrics")  # not from the monitoring network
    assert metrics.status_code == 403 and http_error(metrics.json())["code"] == "FORBIDDEN"
    remote = client.post("/auth/dev-token", json={"role": "COUNTY_OFFICE"})
    assert http_error(remote.json())["code"] in ("FORBIDDEN", "NOT_FOUND")


def test_ogc_keeps_its_body_with_the_same_codes(client: TestClient) -> None:
    missing = client.get("/ogc/collections/nothing")
    assert missing.status_code == 404
    assert missing.json()["code"] == ErrorCode.NOT_FOUND.value and missing.json()["description"]
    refused = client.get("/ogc/collections", headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert refused.json()["code"] == ErrorCode.NOT_ACCEPTABLE.value


def test_user_error_code_is_the_error_code_enum() -> None:
    schema = build_schema()
    user_error = schema._schema.type_map["UserError"]
    enum_type = schema._schema.type_map["ErrorCode"]
    assert str(user_error.fields["code"].type) == "ErrorCode!"  # type: ignore[attr-defined]
    assert list(enum_type.values) == [c.value for c in ErrorCode]  # type: ignore[attr-defined]


# Readers of the three bodies: (stable code, message, the HTTP status the body states or None).
Read = Callable[[bytes], tuple[str, str, int | None]]


def _envelope(body: bytes) -> tuple[str, str, int | None]:
    error = http_error(body)
    return error["code"], error["message"], None


def _ogc(body: bytes) -> tuple[str, str, int | None]:
    found = orjson.loads(body)
    assert isinstance(found, dict) and set(found) <= {"code", "description", "field"}, found
    return found["code"], found["description"], None


def _open311_json(body: bytes) -> tuple[str, str, int | None]:
    (found,) = orjson.loads(body)
    assert set(found) == {"code", "description", "redgrid_code", "field"}, found
    return found["redgrid_code"], found["description"], found["code"]


def _open311_xml(body: bytes) -> tuple[str, str, int | None]:
    root = ET.fromstring(body)
    assert root.tag == "errors" and [e.tag for e in root] == ["error"], body
    return (root.findtext("error/redgrid_code") or "", root.findtext("error/description") or "",
            int(root.findtext("error/code") or 0))


BAD_BEARER = {"Authorization": "Bearer not-a-token"}
TWO_MB_JSON = orjson.dumps({"role": "COUNTY_OFFICE", "pad": "x" * 2 * 1024 * 1024})
# Every way a request may miss a route or be refused before one runs: status, content type,
# body shape and code. Starlette alone would answer the 404s and 405s in plain text.
REFUSALS: list[tuple[str, str, dict[str, str], bytes | None, int, str, Read, str]] = [
    ("GET", "/nope", {}, None, 404, "application/json", _envelope, "NOT_FOUND"),
    ("GET", "/auth/dev-token", {}, None, 405, "application/json", _envelope,
     "METHOD_NOT_ALLOWED"),
    ("POST", "/map-config.json", {}, b"{}", 405, "application/json", _envelope,
     "METHOD_NOT_ALLOWED"),
    ("POST", "/graphiql/examples.json", {}, b"{}", 405, "application/json", _envelope,
     "METHOD_NOT_ALLOWED"),
    ("GET", "/exports/nope.csv", {}, None, 404, "application/json", _envelope, "NOT_FOUND"),
    ("GET", "/field/nope.js", {}, None, 404, "application/json", _envelope, "NOT_FOUND"),
    ("GET", "/static/nope.js", {}, None, 404, "application/json", _envelope, "NOT_FOUND"),
    ("POST", "/static/app.js", {}, b"", 405, "application/json", _envelope,
     "METHOD_NOT_ALLOWED"),
    ("GET", "/vendor/maplibre-gl/nope.js", {}, None, 404, "application/json", _envelope,
     "NOT_FOUND"),
    ("GET", "/vendor/graphiql/nope.js", {}, None, 404, "application/json", _envelope,
     "NOT_FOUND"),
    ("POST", "/auth/dev-token", {"Content-Type": "application/json"}, TWO_MB_JSON, 413,
     "application/json", _envelope, "PAYLOAD_TOO_LARGE"),
    ("GET", "/tiles/tickets/12/3370/1612.mvt", BAD_BEARER, None, 401, "application/json",
     _envelope, "UNAUTHENTICATED"),
    ("GET", "/ogc/nope", {}, None, 404, "application/json", _ogc, "NOT_FOUND"),
    ("POST", "/ogc/collections", {}, b"{}", 405, "application/json", _ogc,
     "METHOD_NOT_ALLOWED"),
    ("GET", "/ogc/collections", BAD_BEARER, None, 401, "application/json", _ogc,
     "UNAUTHENTICATED"),
    ("GET", "/open311/v2/services.json", BAD_BEARER, None, 401, "application/json",
     _open311_json, "UNAUTHENTICATED"),
    ("GET", "/open311/v2/services.xml", BAD_BEARER, None, 401, "text/xml", _open311_xml,
     "UNAUTHENTICATED"),
    ("GET", "/open311/v2/nope.json", {}, None, 404, "application/json", _open311_json,
     "NOT_FOUND"),
    ("DELETE", "/open311/v2/services.xml", {}, None, 405, "text/xml", _open311_xml,
     "METHOD_NOT_ALLOWED"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "content_type",
                          "read", "code"), REFUSALS,
                         ids=[f"{r[0]} {r[1]} {r[4]}" for r in REFUSALS])
def test_every_refusal_answers_in_the_body_of_its_path(
        local: TestClient, method: str, path: str, headers: dict[str, str], body: bytes | None,
        status: int, content_type: str, read: Read, code: str) -> None:
    response = local.request(method, path, headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(content_type), response.headers
    found_code, message, stated_status = read(response.content)
    assert found_code == code, response.text
    assert message.strip() and stated_status in (None, status), response.text
    assert "no-store" in response.headers["cache-control"]
    if status == 405:
        assert response.headers["allow"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"



def test_a_spent_rate_budget_answers_in_the_body_of_its_path(settings: Settings) -> None:
    once = RateBudget(0.001, 1)
    limited = replace(settings, rate_limits={"ogc": once, "tiles": once, "open311": once})
    with TestClient(create_app(limited), client=("203.0.113.11", 4000)) as client:
        for path, read in (("/ogc/collections", _ogc),
                           ("/tiles/compounds/15/27184/12988.mvt", _envelope),
                           ("/open311/v2/services.xml", _open311_xml)):
            assert client.get(path).status_code in (200, 204), path
            refused = client.get(path)
            assert refused.status_code == 429 and refused.headers["retry-after"], path
            code, message, stated_status = read(refused.content)
            assert (code, stated_status in (None, 429)) == ("RATE_LIMITED", True), path
            assert message == "Too many requests."
