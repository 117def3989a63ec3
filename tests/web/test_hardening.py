"""Hardening: every limit on a request triggers with its stable code; normal queries pass."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from graphql import GraphQLError, parse
from starlette.testclient import TestClient

from db.database import Database
from schema import build_schema
from schema.errors import ErrorCodes
from schema.limits import CostCache, operation_cost
from tests.conftest import GraphQLClient, Minter
from web.app import create_app
from web.guard import TokenBuckets
from web.settings import Settings

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


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[TestClient]:
    """An app allowing two requests per client, refilled too slowly to matter in a test."""
    with TestClient(create_app(replace(settings, rate_limit_per_s=0.001,
                                       rate_limit_burst=2))) as client:
        yield client


def test_over_the_rate_limit_is_429(limited: TestClient, token: Minter) -> None:
    for _ in range(2):
        assert limited.post("/graphql", json={"query": ZONES}).status_code == 200
    response = limited.post("/graphql", json={"query": ZONES})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert code(response.json()) == "RATE_LIMITED"
    # another client (by its token) has its own bucket; other paths are not limited
    headers = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='rate-test')}"}
    assert limited.post("/graphql", json={"query": ZONES}, headers=headers).status_code == 200
    assert limited.get("/healthz").status_code == 200


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
