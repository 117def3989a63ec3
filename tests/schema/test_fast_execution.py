"""`FastExecutionContext` answers exactly as graphql-core's own execution does: the same data,
the same errors at the same paths, whatever the values."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from db.database import Database
from db.urls import psycopg_conninfo
from resolvers.actor import Actor, Role
from schema import build_schema
from schema.context import Context
from schema.fast import LEAVES, FastExecutionContext, plain_fields
from web.settings import Settings


@strawberry.enum
class Kind(enum.Enum):
    A = "a"
    B = "b"


@strawberry.type
class Part:
    label: str
    weight: float | None

    @strawberry.field
    async def later(self) -> int:
        if self.label == "fails later":
            raise RuntimeError("an async resolver fails")
        return len(self.label)


@strawberry.type
class Item:
    name: str
    count: int | None
    kind: Kind
    ratio: float
    part: Part | None
    main: Part


class Row:
    """A value object whose attributes may be anything, as rows from a database may."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class Boom:
    @property
    def name(self) -> str:
        raise RuntimeError("the attribute itself fails")


def _part(label: Any, weight: Any = 1.0) -> Row:
    return Row(label=label, weight=weight)


ROWS: list[Any] = [
    Row(name="ok", count=1, kind=Kind.A, ratio=0.5, part=_part("p"), main=_part("m", None)),
    # null on a non-null field, here and one level down (nullable part, non-null main)
    Row(name=None, count=2, kind=Kind.B, ratio=1.0, part=_part(None), main=_part("m")),
    Row(name="n", count=2, kind=Kind.B, ratio=1.0, part=None, main=_part(None)),
    Row(name="x", count="not a number", kind=Kind.A, ratio=2.0,  # a value the type refuses
        part=_part("p", "heavy"), main=None),
    Row(name="y", count=None, kind="a", ratio=float("nan"),  # enum by value; NaN refused
        part=_part("fails later"), main=_part("fails later")),
    Row(name=ValueError("an exception as a value"), count=3, kind=Kind.A, ratio=0.0,
        part=_part(ValueError("deep")), main=_part("m")),
    Boom(),
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return ROWS  # type: ignore[return-value]

    @strawberry.field
    def item(self, index: int) -> Item:
        return ROWS[index]  # type: ignore[no-any-return]


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    fast = plain_fields(strawberry.Schema(Query, execution_context_class=FastExecutionContext))
    plain = plain_fields(strawberry.Schema(Query))
    return fast, plain


@pytest.mark.parametrize("query", [
    "{ items { name count kind ratio } }",
    "{ items { a: name b: name count kind __typename } }",
    "{ items { ...F } } fragment F on Item { name ratio kind }",
    "{ items { name @include(if: false) count @skip(if: true) kind } }",
    "{ first: item(index: 0) { name count } second: item(index: 1) { name } }",
    "{ item(index: 3) { kind count } }",
    "{ items { name part { label weight } main { label } } }",
    "{ items { part { label later } main { weight later } } }",
    "{ items { p: part { ...P } q: part { label } } } fragment P on Part { weight label }",
    "{ first: item(index: 0) { main { label later weight } } }",
    "{ item(index: 2) { name main { label } } }",
    "{ items { name nope } }",
])
async def test_same_answers_as_graphql_core(query: str) -> None:
    fast, plain = _schemas()
    assert LEAVES  # the fast path has leaves to take
    got, expected = await fast.execute(query), await plain.execute(query)
    assert _answer(got) == _answer(expected)


def _answer(result: ExecutionResult) -> tuple[Any, list[tuple[str, Any]]]:
    errors = sorted((e.message, e.path) for e in result.errors or [])
    return result.data, errors


@pytest.fixture(scope="module")
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(psycopg_conninfo(settings.database_url), min_size=1, max_size=2)
    await db.open()
    yield db
    await db.close()


NEARBY = """query ($p: PointInput!) {
  nearbyTickets(point: $p, radiusM: 800, first: 20) {
    distanceM d: distanceM
    ticket { code status level priority createdAt dueAt version geometry g: geometry(crs: GCJ02)
             ... on Ticket { itemCode } gridCell { code } __typename }
  } }"""
PLACES = """{ communities { code name households population zone { code name } }
  facilities { code kind geometry } }"""


@pytest.mark.parametrize("query", [NEARBY, PLACES])
async def test_the_real_schema_answers_as_without_the_fast_path(database: Database,
                                                                query: str) -> None:
    fast = build_schema()
    plain = build_schema()
    plain.execution_context_class = StrawberryGraphQLCoreExecutionContext
    slow_fields = 0

    class Counting(FastExecutionContext):
        def execute_field(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal slow_fields
            slow_fields += 1
            return super().execute_field(*args, **kwargs)

    fast.execution_context_class = Counting
    county = Actor("fast-test", Role.COUNTY_OFFICE)
    variables = {"p": {"lon": 118.657, "lat": 34.918}}
    got = await fast.execute(query, variable_values=variables,
                             context_value=Context(db=database, actor=county))
    expected = await plain.execute(query, variable_values=variables,
                                   context_value=Context(db=database, actor=county))
    assert got.errors is None and expected.errors is None
    assert got.data == expected.data
    assert got.data
    if query is NEARBY:  # the root field, and per hit only geometry with an argument,
        hits = len(got.data["nearbyTickets"])  # gridCell (a resolver) and __typename
        assert hits >= 5 and slow_fields == 1 + hits * 3
