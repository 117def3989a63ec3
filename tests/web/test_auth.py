"""Bearer tokens: none is PUBLIC, a forged or expired one, or one whose scope names an unknown
code or a wildcard, is 401 UNAUTHENTICATED."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from starlette.testclient import TestClient
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from resolvers.actor import Role
from tests.conftest import Minter
from web.auth import AuthError, TokenVerifier, mint
from web.reloading import Reloading
from web.settings import Settings

ZONES = {"query": "{ zones { code } }"}


def test_no_token_is_public(client: TestClient) -> None:
    assert client.post("/graphql", json=ZONES).status_code == 200


def test_valid_token_is_accepted(client: TestClient, token: Minter) -> None:
    headers = {"Authorization": f"Bearer {token('GRID_WORKER', '371329001001')}"}
    assert client.post("/graphql", json=ZONES, headers=headers).status_code == 200


@pytest.mark.parametrize("header", [
    "Bearer not-a-jwt",
    "Basic dXNlcjpwYXNz",
    "Bearer " + mint("another-secret-of-the-same-length-as-ours-xyz", subject="x",
                     role=Role.COUNTY_OFFICE, scopes=[]),
])
def test_bad_tokens_are_401(client: TestClient, header: str) -> None:
    response = client.post("/graphql", json=ZONES, headers={"Authorization": header})
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and error["message"]


def test_expired_token_is_401(client: TestClient, token: Minter) -> None:
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE', ttl_s=-10)}"}
    response = client.post("/graphql", json=ZONES, headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]


def test_remembered_tokens_still_expire() -> None:
    secret = "a-test-secret-that-is-long-enough-for-hs256-keys"
    verifier = TokenVerifier(secret)
    header = "Bearer " + mint(secret, subject="w1", role=Role.GRID_WORKER, scopes=["371329001001"],
                              ttl_s=1)
    first = verifier.actor(header)
    assert first.subject == "w1" and verifier.actor(header) is first  # remembered
    time.sleep(1.1)  # JWT expiry has a resolution of one second
    with pytest.raises(AuthError, match="expired"):
        verifier.actor(header)
    with pytest.raises(AuthError):
        verifier.actor("Bearer " + mint("another-secret-of-the-same-length-as-ours-xyz",
                                        subject="x", role=Role.COUNTY_OFFICE, scopes=[]))


def test_answers_are_private_to_the_caller(client: TestClient, token: Minter) -> None:
    for headers in ({}, {"Authorization": f"Bearer {token('COUNTY_OFFICE')}"},
                    {"Authorization": "Bearer forged"}):
        response = client.post("/graphql", json=ZONES, headers=headers)
        assert response.headers["cache-control"] == "private, no-store"
        assert response.headers["vary"] == "Authorization"


@pytest.mark.parametrize(("role", "scopes"), [
    ("COMMUNITY_STAFF", ["371329999999"]),  # no such community
    ("GRID_WORKER", ["371329001001001", "nowhere"]),  # one bad code spoils the token
    ("STREET_OFFICER", ["%"]),
    ("STREET_OFFICER", ["371329001%"]),
    ("GRID_WORKER", ["3713290010__"]),
    ("GRID_WORKER", [""]),
    ("GRID_WORKER", ["U-FIRE_RESCUE"]),  # a unit code as a place prefix: `_` is a wildcard
], ids=["unknown", "one-unknown", "percent", "prefix-percent", "underscore", "empty",
        "unit-code-as-prefix"])
def test_a_token_with_a_bad_scope_code_is_401(client: TestClient, settings: Settings,
                                              role: str, scopes: list[str]) -> None:
    header = "Bearer " + mint(settings.jwt_secret, subject="s1", role=Role(role), scopes=scopes)
    response = client.post("/graphql", json=ZONES, headers={"Authorization": header})
    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and "scope code" in error["message"]


@pytest.mark.parametrize(("role", "scopes"), [
    ("STREET_OFFICER", ["371329001"]),
    ("COMMUNITY_STAFF", ["371329001001", "Z1"]),
    ("GRID_WORKER", ["371329001001001"]),
    ("SUPERVISOR", ["371329001001C01"]),
    ("UNIT", ["U-FIRE_RESCUE"]),  # compared exactly, so its `_` is no wildcard
])
def test_known_scope_codes_are_accepted(client: TestClient, token: Minter, role: str,
                                        scopes: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token(role, *scopes)}"}
    assert client.post("/graphql", json=ZONES, headers=headers).status_code == 200


async def test_a_bad_scope_code_closes_the_websocket(live_server: str, token: Minter) -> None:
    url = live_server.replace("http://", "ws://") + "/graphql"
    for scope, code in (("371329001001", None), ("371329999999", 4403)):
        params = {"Authorization": f"Bearer {token('COMMUNITY_STAFF', scope)}"}
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": params}))
            if code is None:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert reply["type"] == "connection_ack"
                continue
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_known_codes_are_read_once_per_time_to_live() -> None:
    secret = "a-test-secret-that-is-long-enough-for-hs256-keys"
    now = [0.0]
    codes = {"371329001001", "371329001002"}
    loads = []

    async def load() -> frozenset[str]:
        loads.append(now[0])
        return frozenset(codes)

    verifier = TokenVerifier(secret)
    verifier.use_scope_codes(Reloading("codes", load, ttl_s=300, min_interval_s=30,
                                       clock=lambda: now[0]))
    header = "Bearer " + mint(secret, subject="c2", role=Role.COMMUNITY_STAFF,
                              scopes=["371329001002"])
    with pytest.raises(AuthError, match="not loaded yet"):
        verifier.actor(header)  # refused, not waved through, before the first load
    for _ in range(100):
        assert (await verifier.authenticate(header)).subject == "c2"
    assert loads == [0.0]  # one load for 100 requests

    codes.remove("371329001002")  # the community is merged away
    now[0] = 299.0
    assert (await verifier.authenticate(header)).subject == "c2"
    now[0] = 300.0
    with pytest.raises(AuthError, match="scope code"):
        await verifier.authenticate(header)  # remembered or not, the code is gone
    assert loads == [0.0, 300.0]
