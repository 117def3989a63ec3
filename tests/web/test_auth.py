"""Bearer tokens: none is PUBLIC, a forged or expired one is 401 UNAUTHENTICATED."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from resolvers.actor import Role
from tests.conftest import Minter
from web.auth import AuthError, TokenVerifier, mint

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
