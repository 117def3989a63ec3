"""Production identity: RS256/ES256 tokens verified against the identity provider's JWKS,
fetched without blocking the event loop, again on an unknown kid (rate-limited) and after a
time to live."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient

from tests.conftest import serving
from web.app import create_app
from web.auth import AuthError, TokenVerifier
from web.jwks import JwksKeys
from web.settings import ConfigError, Settings

ISSUER = "https://idp.linshu.example/realms/county"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ZONES = {"query": "{ zones { code } }"}


def jwk(key: Any, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "RS256",
                "use": "sig"}
    return {**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": kid, "alg": "ES256",
            "use": "sig"}


class Provider:
    """A JWKS endpoint on loopback whose keys, failures and slowness a test controls."""

    def __init__(self) -> None:
        self.keys = [jwk(RSA_KEY, "rsa-1"), jwk(EC_KEY, "ec-1")]
        self.hits = 0
        self.failing = False
        self.hold: threading.Event | None = None  # while set up, answers wait for it
        self.held = threading.Event()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
                provider.hits += 1
                if provider.hold is not None:
                    provider.held.set()
                    provider.hold.wait(10)
                body = json.dumps({"keys": provider.keys}).encode()
                self.send_response(500 if provider.failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/certs"


@pytest.fixture()
def provider() -> Iterator[Provider]:
    p = Provider()
    thread = threading.Thread(target=p.server.serve_forever, daemon=True)
    thread.start()
    yield p
    if p.hold is not None:
        p.hold.set()
    p.server.shutdown()
    p.server.server_close()
    thread.join(timeout=5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier(provider: Provider, clock: Clock | None = None, **options: Any) -> TokenVerifier:
    keys = JwksKeys(provider.url, ttl_s=300, min_interval_s=30, clock=clock or Clock(),
                    timeout_s=options.pop("timeout_s", 5.0))
    return TokenVerifier(jwks=keys, issuer=ISSUER, **options)


def token(key: Any, alg: str, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "worker-7", "redgrid_role": "GRID_WORKER", "redgrid_scopes": ["371329001001"],
            "iss": ISSUER, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


async def test_rs256_and_es256_tokens_of_the_provider_are_accepted(provider: Provider) -> None:
    tokens = verifier(provider)
    for key, alg, kid in ((RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")):
        actor = await tokens.authenticate("Bearer " + token(key, alg, kid))
        assert (actor.subject, actor.role.value, actor.scopes) == (
            "worker-7", "GRID_WORKER", ("371329001001",))
    assert provider.hits == 1  # both keys came in one fetch


@pytest.mark.parametrize("bad", [
    lambda: token(OTHER_KEY, "RS256", "rsa-1"),  # signed by someone else
    lambda: token(RSA_KEY, "RS256", "unknown-kid"),
    lambda: token(RSA_KEY, "RS256", "rsa-1", iss="https://elsewhere"),
    lambda: token(RSA_KEY, "RS256", "rsa-1", exp=int(time.time()) - 5),
    lambda: jwt.encode({"sub": "x", "redgrid_role": "COUNTY_OFFICE", "exp": int(time.time()) + 60,
                        "iss": ISSUER}, "a-shared-secret-that-is-long-enough-for-hs256",
                       algorithm="HS256"),  # no downgrade to a shared secret
])
async def test_untrusted_tokens_are_refused(provider: Provider, bad: Any) -> None:
    with pytest.raises(AuthError):
        await verifier(provider).authenticate("Bearer " + bad())


async def test_the_audience_is_checked_when_set(provider: Provider) -> None:
    tokens = verifier(provider, audience="redgrid-api")
    accepted = await tokens.authenticate(
        "Bearer " + token(RSA_KEY, "RS256", "rsa-1", aud="redgrid-api"))
    assert accepted.subject == "worker-7"
    for claims in ({"aud": "another-api"}, {}):
        with pytest.raises(AuthError):
            await tokens.authenticate("Bearer " + token(RSA_KEY, "RS256", "rsa-1", **claims))


async def test_an_unknown_kid_fetches_the_keys_again_but_not_for_every_forgery(
        provider: Provider) -> None:
    clock = Clock()
    tokens = verifier(provider, clock)
    await tokens.authenticate("Bearer " + token(RSA_KEY, "RS256", "rsa-1"))
    assert provider.hits == 1

    # when: the provider rotates in a new key, a token signed with it is accepted at once
    provider.keys = [*provider.keys, jwk(OTHER_KEY, "rsa-2")]
    clock.now += 31
    actor = await tokens.authenticate("Bearer " + token(OTHER_KEY, "RS256", "rsa-2"))
    assert actor.subject == "worker-7" and provider.hits == 2

    # but: a flood of made-up kids is refused without asking the provider each time
    for i in range(50):
        with pytest.raises(AuthError, match="signing key"):
            await tokens.authenticate("Bearer " + token(RSA_KEY, "RS256", f"forged-{i}"))
    assert provider.hits == 2
    clock.now += 31  # at most one fetch per interval
    for i in range(50):
        with pytest.raises(AuthError):
            await tokens.authenticate("Bearer " + token(RSA_KEY, "RS256", f"again-{i}"))
    assert provider.hits == 3


async def test_a_key_the_provider_drops_is_refused_after_the_time_to_live(
        provider: Provider) -> None:
    clock = Clock()
    tokens = verifier(provider, clock)
    header = "Bearer " + token(EC_KEY, "ES256", "ec-1")
    assert (await tokens.authenticate(header)).subject == "worker-7"

    provider.keys = [jwk(RSA_KEY, "rsa-1")]  # the provider drops ec-1
    clock.now += 299
    assert (await tokens.authenticate(header)).subject == "worker-7"  # within the TTL
    assert provider.hits == 1
    clock.now += 2
    with pytest.raises(AuthError, match="signing key"):
        await tokens.authenticate(header)  # remembered or not, the key is gone
    assert provider.hits == 2
    assert (await tokens.authenticate("Bearer " + token(RSA_KEY, "RS256", "rsa-1"))).subject


async def test_a_failing_or_slow_provider_keeps_the_last_good_keys(provider: Provider) -> None:
    clock = Clock()
    tokens = verifier(provider, clock, timeout_s=0.5)
    header = "Bearer " + token(RSA_KEY, "RS256", "rsa-1")
    assert (await tokens.authenticate(header)).subject == "worker-7"
    provider.failing = True
    clock.now += 301
    assert (await tokens.authenticate(header)).subject == "worker-7"
    assert provider.hits == 2
    provider.failing, provider.hold = False, threading.Event()  # now it hangs
    clock.now += 301
    started = time.monotonic()
    assert (await tokens.authenticate(header)).subject == "worker-7"
    assert time.monotonic() - started < 5  # the timeout, not the provider, decided
    assert provider.hits == 3


async def test_concurrent_callers_share_one_fetch(provider: Provider) -> None:
    tokens = verifier(provider)
    headers = ["Bearer " + token(RSA_KEY, "RS256", "rsa-1", sub=f"w{i}") for i in range(20)]
    actors = await asyncio.gather(*(tokens.authenticate(h) for h in headers))
    assert [a.subject for a in actors] == [f"w{i}" for i in range(20)]
    assert provider.hits == 1


def test_a_slow_provider_does_not_hold_up_other_requests(settings: Settings,
                                                          provider: Provider) -> None:
    production = replace(settings, environment="production", jwt_secret="",
                         jwks_url=provider.url, jwt_issuer=ISSUER)
    provider.hold = threading.Event()
    with serving(production) as url:
        answers: list[int] = []

        def sign_in() -> None:
            headers = {"Authorization": "Bearer " + token(RSA_KEY, "RS256", "rsa-1")}
            answers.append(httpx.post(f"{url}/graphql", json=ZONES, headers=headers,
                                      timeout=30).status_code)

        caller = threading.Thread(target=sign_in)
        caller.start()
        try:
            # when: the server is waiting for the provider's keys
            assert provider.held.wait(10)
            # then: it still answers everyone else
            assert httpx.get(f"{url}/healthz", timeout=3).status_code == 200
            assert httpx.post(f"{url}/graphql", json=ZONES, timeout=3).status_code == 200
            assert not answers
        finally:
            provider.hold.set()
            caller.join(timeout=15)
        assert answers == [200]


def test_production_refuses_to_start_without_keys(tmp_path: Any) -> None:
    production = Settings.from_env({"REDGRID_ENV": "production",
                                    "REDGRID_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="REDGRID_JWKS_URL"):
        create_app(production)
    assert not (tmp_path / "jwt-secret").exists()


def test_a_production_app_verifies_against_jwks(settings: Settings, provider: Provider) -> None:
    production = replace(settings, environment="production", jwt_secret="",
                         jwks_url=provider.url, jwt_issuer=ISSUER)
    query = ZONES
    with TestClient(create_app(production)) as client:
        good = {"Authorization": "Bearer " + token(RSA_KEY, "RS256", "rsa-1")}
        assert client.post("/graphql", json=query, headers=good).status_code == 200
        forged = {"Authorization": "Bearer " + token(OTHER_KEY, "RS256", "rsa-1")}
        response = client.post("/graphql", json=query, headers=forged)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
