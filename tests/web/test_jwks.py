"""Production identity: RS256/ES256 tokens verified against the identity provider's JWKS."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.testclient import TestClient

from web.app import create_app
from web.auth import AuthError, TokenVerifier
from web.settings import ConfigError, Settings

ISSUER = "https://idp.linshu.example/realms/county"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {"keys": [{**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                     {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"}]}


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    body = json.dumps(jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def token(key: Any, alg: str, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "worker-7", "redgrid_role": "GRID_WORKER", "redgrid_scopes": ["371329001001"],
            "iss": ISSUER, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def test_rs256_and_es256_tokens_of_the_provider_are_accepted(jwks_url: str) -> None:
    verifier = TokenVerifier(jwks_url=jwks_url, issuer=ISSUER)
    for key, alg, kid in ((RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")):
        actor = verifier.actor("Bearer " + token(key, alg, kid))
        assert (actor.subject, actor.role.value, actor.scopes) == (
            "worker-7", "GRID_WORKER", ("371329001001",))


@pytest.mark.parametrize("bad", [
    lambda: token(OTHER_KEY, "RS256", "rsa-1"),  # signed by someone else
    lambda: token(RSA_KEY, "RS256", "unknown-kid"),
    lambda: token(RSA_KEY, "RS256", "rsa-1", iss="https://elsewhere"),
    lambda: token(RSA_KEY, "RS256", "rsa-1", exp=int(time.time()) - 5),
    lambda: jwt.encode({"sub": "x", "redgrid_role": "COUNTY_OFFICE", "exp": int(time.time()) + 60,
                        "iss": ISSUER}, "a-shared-secret-that-is-long-enough-for-hs256",
                       algorithm="HS256"),  # no downgrade to a shared secret
])
def test_untrusted_tokens_are_refused(jwks_url: str, bad: Any) -> None:
    with pytest.raises(AuthError):
        TokenVerifier(jwks_url=jwks_url, issuer=ISSUER).actor("Bearer " + bad())


def test_production_refuses_to_start_without_keys(tmp_path: Any) -> None:
    production = Settings.from_env({"REDGRID_ENV": "production",
                                    "REDGRID_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="REDGRID_JWKS_URL"):
        create_app(production)
    assert not (tmp_path / "jwt-secret").exists()


def test_a_production_app_verifies_against_jwks(settings: Settings, jwks_url: str) -> None:
    production = replace(settings, environment="production", jwt_secret="", jwks_url=jwks_url,
                         jwt_issuer=ISSUER)
    query = {"query": "{ zones { code } }"}
    with TestClient(create_app(production)) as client:
        good = {"Authorization": "Bearer " + token(RSA_KEY, "RS256", "rsa-1")}
        assert client.post("/graphql", json=query, headers=good).status_code == 200
        forged = {"Authorization": "Bearer " + token(OTHER_KEY, "RS256", "rsa-1")}
        response = client.post("/graphql", json=query, headers=forged)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
