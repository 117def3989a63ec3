"""Hardening: every limit on a request triggers with its stable code; normal queries pass."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from graphql import GraphQLError, parse
from starlette.testclient import TestClient

from db.database import Database
from resolvers.actor import Role
from schema import build_schema
from schema.errors import ErrorCodes
from schema.limits import CostCache, operation_cost
from tests.conftest import GraphQLClient, Minter
from web.app import create_app
from web.auth import mint
from web.clients import parse_networks
from web.guard import TokenBuckets
from web.settings import RateBudget, Settings

ZONES = "{ zones { code } }"
INTROSPECTION = "{ __schema { types { name } } }"
# Community.compounds → Compound.community → ... nests as deep as one likes.
DEEP = "{ compounds { " + "community { compounds { " * 7 + "code" + " } }" * 7 + " } }"
ALIASED = "{ " + " ".join(f"z{i}: zones {{ code }}" for i in range(31)) + " }"
LONG = "{ zones { " + "code " * 5_000 + "} }"
COSTLY = "{ communities { compounds { community { gridCells { code } } } } }"
NEARBY = """query ($n: Int) {
  nearbyTickets(point: {lon: 118.657, lat: 34.918}, radiusM: 100, first: $n) { distanceM } }"""
MiB = 1024 * 1024


def code(body: dict[str, object]) -> str:
    errors = body["errors"]
    assert isinstance(errors, list) and errors, body
    return str(errors[0]["extensions"]["code"])


def test_normal_queries_still_pass(gql: GraphQLClient, county: GraphQLClient) -> None:
    assert gql.data(ZONES)["zones"]
    assert county.data(NEARBY, {"n": 5})["nearbyTickets"] is not None


@pytest.mark.parametrize(("query", "expected"), [
    (DEEP, "QUERY_TOO_DEEP"),
    (ALIASED, "TOO_MANY_ALIASES"),
    (LONG, "TOO_MANY_TOKENS"),
    (COSTLY, "QUERY_TOO_COSTLY"),
], ids=["depth", "aliases", "tokens", "cost"])
def test_each_document_limit_has_its_code(gql: GraphQLClient, query: str,
                                          expected: str) -> None:
    body = gql(query)
    assert code(body) == expected
    assert body.get("data") is None


def test_the_cost_error_names_the_cost(gql: GraphQLClient) -> None:
    error = gql.error(COSTLY)
    # 1 + 100 communities × (1 + 20 compounds × (1 + 1 community × (1 + 30 grid cells × 1)))
    assert "64101" in error["message"] and "50000" in error["message"]


def test_cost_counts_first_from_variables_capped_as_resolvers_cap() -> None:
    schema = build_schema()._schema
    document = parse(NEARBY)
    operation = document.definitions[0]

    def cost(variables: dict[str, object]) -> int:
        return operation_cost(schema, operation, document.definitions,  # type: ignore[arg-type]
                              variables)

    assert cost({"n": 5}) == 1 + 5
    assert cost({}) == 1 + 20  # the schema's default
    assert cost({"n": 100_000}) == 1 + 200  # nearbyTickets is capped at 200


def test_remembered_costs_follow_first_and_nothing_else() -> None:
    schema = build_schema()._schema
    costs = CostCache()
    document = parse(NEARBY)
    operation = document.definitions[0]

    def both(variables: dict[str, object]) -> tuple[int, int]:
        args = (schema, operation, document.definitions)
        return (costs.cost(schema, NEARBY, operation, document.definitions,  # type: ignore[arg-type]
                           None, variables),
                operation_cost(*args, variables))  # type: ignore[arg-type]

    for n in (5, 5, 100_000, 5, 7):
        remembered, computed = both({"n": n})
        assert remembered == computed == 1 + min(n, 200)
    assert both({})[0] == 1 + 20
    assert both({"n": [1, 2]})[0] == both({"n": [1, 2]})[1]  # unhashable: computed each time


def test_a_whole_layer_costs_as_many_features(gql: GraphQLClient) -> None:
    schema = build_schema()._schema
    one = parse("{ layer(name: TICKETS) }")
    assert operation_cost(schema, one.definitions[0], one.definitions, {}) == 2500  # type: ignore[arg-type]
    many = "{ " + " ".join(f"l{i}: layer(name: TICKETS)" for i in range(21)) + " }"
    assert code(gql(many)) == "QUERY_TOO_COSTLY"  # 21 × 2,500 > 50,000


def test_limits_follow_the_settings(settings: Settings) -> None:
    strict = replace(settings, max_query_depth=1, max_query_cost=60)
    with TestClient(create_app(strict)) as client:
        gql = GraphQLClient(client)
        assert code(gql("{ communities { zone { code } } }")) == "QUERY_TOO_DEEP"
        assert code(gql("{ zones { code name zone: code } }")) == "QUERY_TOO_COSTLY"  # 61
        assert gql.data("{ zones { code name } }")["zones"]  # 1 + 20 × 2


def limited_app(settings: Settings, peer: str = "203.0.113.7", proxies: str = "",
                **budgets: RateBudget) -> TestClient:
    """A client at `peer` of an app with these budgets only (e.g. two requests per caller,
    refilled too slowly to matter in a test)."""
    configured = replace(settings, rate_limits=budgets, trusted_proxies=parse_networks(proxies))
    return TestClient(create_app(configured), client=(peer, 4000))


TWO = RateBudget(0.001, 2)


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[TestClient]:
    with limited_app(settings, graphql=TWO) as client:
        yield client


def test_over_the_rate_limit_is_429(limited: TestClient, token: Minter) -> None:
    for _ in range(2):
        assert limited.post("/graphql", json={"query": ZONES}).status_code == 200
    response = limited.post("/graphql", json={"query": ZONES})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert code(response.json()) == "RATE_LIMITED"
    # another caller (by its verified token) has its own bucket; other paths are not limited
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='rate-test')}"}
    assert limited.post("/graphql", json={"query": ZONES}, headers=headers).status_code == 200
    assert limited.get("/healthz").status_code == 200


def post(client: TestClient, token: str | None = None,
         headers: dict[str, str] | None = None) -> int:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/graphql", json={"query": ZONES},
                       headers={**auth, **(headers or {})}).status_code


def test_rotating_forged_tokens_draws_on_the_address(settings: Settings) -> None:
    forged = [mint("another-secret-of-the-same-length-as-ours-xyz", subject=f"f{i}",
                   role=Role.COUNTY_OFFICE, scopes=[]) for i in range(3)]
    with limited_app(settings, graphql=TWO) as client:
        assert [post(client, t) for t in forged] == [401, 401, 429]
        assert post(client) == 429  # the same address, without a token
    with limited_app(settings, peer="198.51.100.1", graphql=TWO) as elsewhere:
        assert post(elsewhere) == 200


def test_rotating_tokens_of_one_caller_share_a_bucket(settings: Settings,
                                                      token: Minter) -> None:
    same = [token("GRID_WORKER", "371329001001", sub="w-rotating", ttl_s=600 + i)
            for i in range(3)]
    with limited_app(settings, graphql=TWO) as client:
        assert [post(client, t) for t in same] == [200, 200, 429]
        # another subject, and the public at this address, each have a bucket of their own
        assert post(client, token("GRID_WORKER", "371329001001", sub="w-other")) == 200
        assert post(client) == 200


def test_forwarded_for_counts_only_from_trusted_proxies(settings: Settings) -> None:
    def spoofed(i: int) -> dict[str, str]:
        return {"X-Forwarded-For": f"192.0.2.{i}"}

    with limited_app(settings, graphql=TWO) as client:  # no trusted proxies: the peer counts
        assert [post(client, headers=spoofed(i)) for i in range(3)] == [200, 200, 429]
    with limited_app(settings, peer="10.0.0.5", proxies="10.0.0.0/8", graphql=TWO) as proxy:
        assert [post(proxy, headers=spoofed(i)) for i in range(3)] == [200, 200, 200]
        assert [post(proxy, headers=spoofed(1)) for _ in range(2)] == [200, 429]


TILE = "/tiles/compounds/12/3398/1622.mvt"
HEAT_TILE = "/tiles/heatmap/12/3398/1622.mvt?from=2024-01-01&to=2024-06-30"


def test_map_routes_have_budgets_of_their_own(settings: Settings) -> None:
    budgets = {name: TWO for name in ("tiles", "ogc", "heatmap")}
    with limited_app(settings, **budgets) as client:
        assert [client.get(TILE).status_code != 429 for _ in range(2)] == [True, True]
        assert client.get("/tiles/streets/12/3398/1622.mvt").status_code == 429
        # the heat map's tiles draw on the heat map's budget, OGC API on its own
        assert client.get(HEAT_TILE).status_code != 429
        assert client.get("/heatmap.geojson?from=2024-01-01&to=2024-06-30").status_code != 429
        assert client.get(HEAT_TILE).status_code == 429
        assert [client.get("/ogc/collections").status_code for _ in range(3)] == [200, 200, 429]
        assert post(client) == 200  # GraphQL has no budget here


def test_production_limits_every_budget_and_development_none(tmp_path: Path) -> None:
    env = {"REDGRID_DATA_DIR": str(tmp_path)}
    production = Settings.from_env(env).rate_limits
    assert {name: b.per_s > 0 for name, b in production.items()} == {
        "graphql": True, "tiles": True, "ogc": True, "heatmap": True, "open311": True,
        "media": True, "exports": True}
    assert production["tiles"].burst >= 500  # a map opens dozens of tiles at once
    development = Settings.from_env({**env, "REDGRID_ENV": "development",
                                     "REDGRID_TILES_RATE_LIMIT": "10"}).rate_limits
    assert {name: b.per_s for name, b in development.items()} == {
        "graphql": 0, "tiles": 10, "ogc": 0, "heatmap": 0, "open311": 0, "media": 0, "exports": 0}


def test_idle_buckets_are_dropped_and_memory_is_bounded() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=2, max_clients=3, clock=lambda: now[0])
    for key in "abcde":
        assert buckets.take(key) == 0
    assert len(buckets.buckets) == 3
    assert buckets.take("e") == 0 and buckets.take("e") > 0
    now[0] = 10.0  # all full again: nothing worth keeping
    buckets.take("f")
    assert list(buckets.buckets) == ["f"]


def test_a_large_body_is_413(client: TestClient) -> None:
    response = client.post("/graphql", content=b"x" * (MiB + 1),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert code(response.json()) == "PAYLOAD_TOO_LARGE"


def test_a_large_streamed_body_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b" " * (MiB // 2)

    response = client.post("/graphql", content=chunks(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert code(response.json()) == "PAYLOAD_TOO_LARGE"


def test_statement_timeout_cancels_and_is_coded(conninfo: str) -> None:
    async def sleep() -> None:
        db = Database(conninfo, min_size=1, max_size=1, statement_timeout_ms=50)
        await db.open()
        try:
            async with db.connection() as conn:
                await conn.execute("SELECT pg_sleep(2)")
        finally:
            await db.close()

    with pytest.raises(psycopg.errors.QueryCanceled) as cancelled:
        asyncio.run(sleep())
    error = ErrorCodes._process(GraphQLError("canceled", original_error=cancelled.value), "r1")
    assert error.extensions == {"code": "TIMEOUT", "requestId": "r1"}


def test_development_keeps_introspection_and_the_ide(gql: GraphQLClient,
                                                     client: TestClient) -> None:
    assert gql.data(INTROSPECTION)["__schema"]["types"]
    response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]


def test_production_hides_introspection_and_the_ide(settings: Settings) -> None:
    production = replace(settings, environment="production", jwt_secret="s" * 32,
                         allow_hs256=True)
    with TestClient(create_app(production)) as client:
        gql = GraphQLClient(client)
        assert code(gql(INTROSPECTION)) == "INTROSPECTION_DISABLED"
        assert gql.data(ZONES)["zones"]
        response = client.get("/graphql", headers={"accept": "text/html"})
        assert not (response.status_code == 200
                    and "text/html" in response.headers.get("content-type", ""))
