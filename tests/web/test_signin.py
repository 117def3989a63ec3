"""The map page's configuration and the development sign-in, over plain HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQLClient, http_error
from web.app import create_app
from web.auth import actor_from_header
from web.clients import parse_networks
from web.settings import ConfigError, Settings
from web.signin import DataSpan

NEARBY = """{ nearbyTickets(point: {lon: 118.657, lat: 34.918}, radiusM: 300, first: 3) {
  distanceM } }"""
COMMUNITY = "371329001001"


@pytest.fixture(scope="module")
def production(settings: Settings) -> Iterator[TestClient]:
    configured = replace(settings, environment="production", allow_hs256=True,
                         basemap_url="https://tiles.example/{z}/{x}/{y}.png",
                         basemap_crs="GCJ02", basemap_attribution="© 底图",
                         oidc_authorize_url="https://idp.example/auth",
                         oidc_token_url="https://idp.example/token",
                         oidc_client_id="redgrid-map", oidc_scope="openid")
    with TestClient(create_app(configured)) as client:
        yield client


@pytest.fixture(scope="module")
def local(settings: Settings) -> Iterator[TestClient]:
    """A client on this machine's loopback, the only one development tokens are issued to."""
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        yield client


def dev_token(client: TestClient, body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post("/auth/dev-token", json=body)
    return response.status_code, response.json()


def test_the_development_config_offers_dev_sign_in_and_the_demo_catalogue(
        local: TestClient, client: TestClient) -> None:
    assert client.get("/map-config.json").json()["signIn"] == {"mode": "none"}  # not local
    response = local.get("/map-config.json")
    assert response.status_code == 200
    config = response.json()
    assert config["signIn"]["mode"] == "dev"
    assert "authorizeUrl" not in config["signIn"]
    assert "COUNTY_OFFICE" in config["signIn"]["roles"]
    assert not {"SYSTEM", "PUBLIC"} & set(config["signIn"]["roles"])
    assert config["basemap"] is None
    months = config["months"]
    assert (len(months), months[0], months[-1]) == (18, "2023-01", "2024-06")
    assert config["lastDay"] == "2024-06-30"  # the seed's as-of day
    assert [c["code"] for c in config["categories"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert config["categories"][0]["name"] == "物业服务"
    assert len(config["items"]) == 46
    assert config["items"]["P01"] == {"name": "公共区域保洁不到位", "category": "C1"}


def test_the_data_ends_no_later_than_today() -> None:
    span = DataSpan(["2099-01"], date(2099, 1, 31))
    assert span.last_day_by(date(2026, 11, 30)) == date(2026, 11, 30)
    assert span.last_day_by(date(2100, 1, 1)) == date(2099, 1, 31)
    assert DataSpan([], None).last_day_by(date(2026, 11, 30)) is None


def test_production_config_names_the_provider_and_the_basemap(production: TestClient) -> None:
    config = production.get("/map-config.json").json()
    assert config["signIn"] == {"mode": "oidc", "authorizeUrl": "https://idp.example/auth",
                                "tokenUrl": "https://idp.example/token",
                                "clientId": "redgrid-map", "scope": "openid"}
    assert config["basemap"] == {"url": "https://tiles.example/{z}/{x}/{y}.png",
                                 "crs": "GCJ02", "attribution": "© 底图"}


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "status"), [
    ("testclient", None, (), 403),  # not an address at all
    ("203.0.113.9", None, (), 403),
    ("203.0.113.9", "127.0.0.1", (), 403),  # X-Forwarded-For from an untrusted peer is ignored
    ("127.0.0.1", "203.0.113.9", ("127.0.0.1",), 403),  # a local proxy for a remote client
    ("10.0.0.2", "127.0.0.1, 203.0.113.9", ("10.0.0.0/8",), 403),  # the client wrote the left
    ("::1", None, (), 200),
    ("10.0.0.2", "203.0.113.9, 127.0.0.1", ("10.0.0.0/8",), 200),  # a trusted proxy for a local
], ids=["testclient", "remote", "spoofed-forwarded-for", "via-local-proxy", "forged-hop",
        "ipv6-loopback", "trusted-proxy-for-loopback"])
def test_dev_tokens_go_to_loopback_callers_only(settings: Settings, peer: str,
                                                forwarded: str | None, trusted: tuple[str, ...],
                                                status: int) -> None:
    configured = replace(settings, trusted_proxies=parse_networks(",".join(trusted)))
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with TestClient(create_app(configured), client=(peer, 4000)) as client:
        response = client.post("/auth/dev-token", json={"role": "COUNTY_OFFICE"},
                               headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert bool(body.get("token")) == (status == 200)
    if status == 403:
        assert http_error(body)["code"] == "FORBIDDEN"


def test_production_has_no_dev_tokens(production: TestClient) -> None:
    response = production.post("/auth/dev-token", json={"role": "COUNTY_OFFICE"})
    assert response.status_code == 404


def test_a_dev_token_works_for_graphql(local: TestClient, gql: GraphQLClient,
                                       settings: Settings) -> None:
    # given: the public may not list nearby tickets
    assert gql.error(NEARBY)["extensions"]["code"] == "FORBIDDEN"

    # when: a county-office token is asked for
    status, body = dev_token(local, {"role": "COUNTY_OFFICE", "scopes": []})

    # then: it lasts 12 hours, and opens nearbyTickets
    assert status == 200, body
    left = datetime.fromisoformat(body["expiresAt"]) - datetime.now().astimezone()
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)
    assert gql.as_(body["token"]).data(NEARBY)["nearbyTickets"] is not None
    actor = actor_from_header(f"Bearer {body['token']}", settings.jwt_secret)
    assert (actor.role.value, actor.subject) == ("COUNTY_OFFICE", "dev-county_office")
    assert local.post("/auth/dev-token", json={"role": "PLANNER"}).headers[
        "Cache-Control"] == "private, no-store"


def test_a_dev_token_carries_the_scopes_and_subject(local: TestClient,
                                                    settings: Settings) -> None:
    status, body = dev_token(local, {"role": "grid_worker", "sub": "worker.7",
                                      "scopes": [f"{COMMUNITY}001", f" {COMMUNITY}001 "]})
    assert status == 200, body
    actor = actor_from_header(f"Bearer {body['token']}", settings.jwt_secret)
    assert (actor.subject, actor.role.value, actor.scopes) == (
        "worker.7", "GRID_WORKER", (f"{COMMUNITY}001",))


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"role": "MAYOR"}, "UNKNOWN_ROLE", "role"),
    ({"role": "SYSTEM"}, "UNKNOWN_ROLE", "role"),
    ({"role": "PUBLIC"}, "UNKNOWN_ROLE", "role"),
    ({"scopes": []}, "BAD_USER_INPUT", "role"),
    ({"role": "GRID_WORKER", "scopes": []}, "SCOPE_REQUIRED", "scopes"),
    ({"role": "COMMUNITY_STAFF", "scopes": ["371329999999"]}, "UNKNOWN_SCOPE", "scopes"),
    ({"role": "GRID_WORKER", "scopes": ["U-FIRE_RESCUE"]}, "UNKNOWN_SCOPE", "scopes"),  # _ in LIKE
    ({"role": "COMMUNITY_STAFF", "scopes": "371329001001"}, "BAD_USER_INPUT", "scopes"),
    ({"role": "COUNTY_OFFICE", "scopes": [f"3713290010{i:02d}" for i in range(21)]},
     "BAD_USER_INPUT", "scopes"),
    ({"role": "COUNTY_OFFICE", "sub": "a b"}, "BAD_USER_INPUT", "sub"),
    (["COUNTY_OFFICE"], "BAD_USER_INPUT", "body"),
])
def test_bad_dev_token_requests_are_refused_with_a_code(
        local: TestClient, body: Any, code: str, field: str) -> None:
    status, answer = dev_token(local, body)
    assert status == 400
    error = http_error(answer)
    assert (error["code"], error["field"]) == (code, field), error


def test_a_body_that_is_not_json_is_a_400(local: TestClient) -> None:
    response = local.post("/auth/dev-token", content=b"role=COUNTY_OFFICE")
    assert response.status_code == 400
    assert http_error(response.json())["code"] == "BAD_USER_INPUT"


def test_settings_read_the_basemap_and_the_provider(tmp_path: Path) -> None:
    env = {"REDGRID_DATA_DIR": str(tmp_path), "REDGRID_BASEMAP_URL": " https://t/{z}/{x}/{y} ",
           "REDGRID_BASEMAP_CRS": "bd09", "REDGRID_OIDC_AUTHORIZE_URL": "https://idp/a",
           "REDGRID_OIDC_TOKEN_URL": "https://idp/t", "REDGRID_OIDC_CLIENT_ID": "map"}
    s = Settings.from_env(env)
    assert (s.basemap_url, s.basemap_crs, s.oidc_authorize_url, s.oidc_token_url,
            s.oidc_client_id, s.oidc_scope) == ("https://t/{z}/{x}/{y}", "BD09", "https://idp/a",
                                                "https://idp/t", "map", "openid")
    plain = Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path)})
    assert (plain.basemap_url, plain.basemap_crs, plain.oidc_authorize_url) == ("", "WGS84", "")


@pytest.mark.parametrize(("env", "message"), [
    ({"REDGRID_BASEMAP_CRS": "EPSG3857"}, "REDGRID_BASEMAP_CRS"),
    ({"REDGRID_OIDC_AUTHORIZE_URL": "https://idp/a"}, "REDGRID_OIDC_TOKEN_URL"),
])
def test_settings_refuse_a_half_configured_page(tmp_path: Path, env: dict[str, str],
                                                message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"REDGRID_DATA_DIR": str(tmp_path), **env})
