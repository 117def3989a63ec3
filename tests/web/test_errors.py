"""Every HTTP route outside GraphQL answers errors in GraphQL's envelope with the same stable
codes; OGC API Features keeps its standard's body with the same codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from resolvers.errors import ErrorCode
from schema import build_schema
from tests.conftest import Minter, http_error
from web.app import create_app
from web.errors import status_of
from web.settings import Settings


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
