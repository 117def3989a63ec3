"""`FastExecutionContext` answers exactly as graphql-core's own execution does: the same data,
the same errors at the same paths, whatever the values."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import graphql
import psycopg
import pytest
import strawberry
from starlette.testclient import TestClient
from strawberry.dataloader import DataLoader
from strawberry.extensions import FieldExtension, MaskErrors, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.types import ExecutionResult

from db.database import Database
from db.urls import psycopg_conninfo
from geo.types import Crs
from resolvers.actor import Actor, Role
from schema import build_schema, fast
from schema.context import Context
from schema.fast import (
    LEAVES,
    FastExecutionContext,
    FastPathError,
    install,
    plain_fields,
)
from schema.geometry import RawJSON
from schema.types import TICKET_CARRIED
from tests.schema.awkward import ROWS, Query, Row, _part
from web.settings import Settings


class Shout(SchemaExtension):
    """A resolve hook: sees every field, and changes every string it resolves."""

    seen: list[str] = []

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        Shout.seen.append(".".join(str(key) for key in info.path.as_list()))
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


def _schemas(extensions: list[Any] | None = None) -> tuple[strawberry.Schema, strawberry.Schema]:
    fast = plain_fields(strawberry.Schema(Query, execution_context_class=FastExecutionContext,
                                          extensions=extensions or []))
    plain = plain_fields(strawberry.Schema(Query, extensions=extensions or []))
    return fast, plain


QUERIES = [
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
    "{ items { name secret } }",
    "{ item(index: 0) { secret main { label } } }",
]
# Extensions around the execution: none; Strawberry's MaskErrors; a resolve hook.
EXTENSIONS: list[list[Any]] = [[], [MaskErrors], [Shout]]


@pytest.mark.parametrize("extensions", EXTENSIONS, ids=["none", "MaskErrors", "resolve-hook"])
@pytest.mark.parametrize("query", QUERIES)
async def test_same_answers_as_graphql_core(query: str, extensions: list[Any]) -> None:
    fast, plain = _schemas(extensions)
    assert LEAVES  # the fast path has leaves to take
    Shout.seen = []
    got = await fast.execute(query)
    seen_fast, Shout.seen = Shout.seen, []
    expected = await plain.execute(query)
    assert _answer(got) == _answer(expected)
    assert sorted(seen_fast) == sorted(Shout.seen)  # the hook saw the same fields


async def test_a_permission_class_denies_on_the_fast_path() -> None:
    fast, _ = _schemas()
    result = await fast.execute("{ item(index: 0) { name secret } }")
    assert result.data is None
    assert [(e.message, e.path) for e in result.errors or []] == [
        ("not for you", ["item", "secret"])]


async def test_mask_errors_masks_what_the_fast_path_reports() -> None:
    fast, _ = _schemas([MaskErrors])
    result = await fast.execute("{ items { name } }")
    messages = {e.message for e in result.errors or []}
    assert messages == {"Unexpected error."}  # nothing of "the attribute itself fails" leaks
    assert len(result.errors or []) >= 3


async def test_a_resolve_hook_sees_every_field_on_the_fast_path() -> None:
    fast, _ = _schemas([Shout])
    Shout.seen = []
    result = await fast.execute("{ item(index: 0) { name main { label } } }")
    assert result.data == {"item": {"name": "OK", "main": {"label": "M"}}}
    assert sorted(Shout.seen) == ["item", "item.main", "item.main.label", "item.name"]


class Logged(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return next_(source, info, **kwargs)


class Allowed(BasePermission):
    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return True


def _places(declared: Any, grid_cell: Any = None) -> strawberry.Schema:
    """A schema with the types `install` takes over, `Facility.geometry` declared as given,
    and `Ticket.gridCell` (a relation answered from carried rows) when given."""

    def object_type(name: str, **fields: Any) -> Any:
        annotations = {k: v for k, v in fields.items() if isinstance(v, type)}
        values = {k: v for k, v in fields.items() if not isinstance(v, type)}
        return strawberry.type(type(name, (), {"__annotations__": annotations, **values}))

    types = {name: object_type(name, geometry=strawberry.field(resolver=_geometry))
             for name in fast.PLACES}
    relations = {name: strawberry.field(resolver=_events if name == "events" else _related,
                                        name=name) for name in TICKET_CARRIED}
    relations["gridCell"] = grid_cell or relations["gridCell"]
    types["Ticket"] = object_type("Ticket", geometry=strawberry.field(resolver=_geometry),
                                  **{f"relation_{i}": v for i, v in enumerate(relations.values())})
    types["Facility"] = object_type("Facility", geometry=declared)
    query = object_type("Query", **{name.lower(): t for name, t in types.items()})
    return strawberry.Schema(query, execution_context_class=FastExecutionContext)


def _geometry(self: Any, crs: Crs | None = Crs.WGS84) -> str:
    return f"point in {crs}"


def _related(self: Any) -> str:
    return "by its resolver"


def _events(self: Any) -> list[str]:
    return ["by its resolver"]


def test_install_takes_over_a_plain_declared_geometry() -> None:
    install(_places(strawberry.field(resolver=_geometry)))


@pytest.mark.parametrize("geometry", [
    strawberry.field(resolver=_geometry, permission_classes=[Allowed]),
    strawberry.field(resolver=_geometry, extensions=[Logged()]),
], ids=["permission class", "field extension"])
def test_install_refuses_a_field_it_would_strip(geometry: Any) -> None:
    with pytest.raises(FastPathError, match="Facility.geometry has extensions or permission"):
        install(_places(geometry))


@pytest.mark.parametrize("grid_cell", [
    strawberry.field(resolver=_related, name="gridCell", permission_classes=[Allowed]),
    strawberry.field(resolver=_related, name="gridCell", extensions=[Logged()]),
], ids=["permission class", "field extension"])
def test_install_refuses_a_relation_it_would_answer_from_rows(grid_cell: Any) -> None:
    with pytest.raises(FastPathError, match="Ticket.gridCell has extensions or permission"):
        install(_places(strawberry.field(resolver=_geometry), grid_cell))


def test_install_refuses_another_graphql_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphql, "version", "3.3.3")
    with pytest.raises(FastPathError, match="written for graphql-core 3.3.2, found 3.3.3"):
        build_schema()


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
OUTLINES = """{ zones { code geometry g: geometry(crs: BD09) }
  streets: communities { street { code geometry(crs: WGS84) } }
  communities(zoneCode: "Z1") { geometry(crs: GCJ02) compounds { code geometry }
                                gridCells { geometry } } }"""


LISTED = "{ communities { code geometry } }"


@pytest.mark.parametrize("query", [NEARBY, PLACES, OUTLINES, LISTED])
async def test_the_real_schema_answers_as_without_the_fast_path(database: Database,
                                                                query: str) -> None:
    fast = build_schema()
    plain = build_schema(fast_path=False)  # every field as declared, through graphql-core
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
    if query is NEARBY:  # the root field (its declared resolver), and per hit only geometry
        # with an argument,
        hits = len(got.data["nearbyTickets"])  # gridCell (a resolver) and __typename
        assert hits >= 5 and slow_fields == 1 + hits * 3
    if query is LISTED:  # the outlines came with the list: only the root field is resolved
        assert len(got.data["communities"]) == 43 and slow_fields == 1


TICKET = """query ($code: String!) { ticket(code: $code) { code status
  gridCell { code households } compound { code name } community { code name }
  responsibleUnit { code name kind } events { at action fromStatus toStatus note } } }"""


async def test_a_tickets_relations_are_answered_from_the_rows_read_with_it(
        database: Database, conninfo: str) -> None:
    """`ticket` reads its grid cell, compound, community, unit and events in its own
    statement, and the ticket carries their rows: the fast path answers the four places from
    them without their resolvers, and events (a list) through its resolver, which takes the
    same rows. No DataLoader is made. The answers are those of the schema without the fast
    path (through the loaders), for a ticket with a compound and one without."""
    with psycopg.connect(conninfo) as conn:
        codes = [r[0] for r in conn.execute(
            "(SELECT code FROM tickets WHERE compound_code IS NULL ORDER BY id LIMIT 1) "
            "UNION ALL (SELECT t.code FROM tickets t WHERE compound_code IS NOT NULL AND "
            "EXISTS (SELECT FROM ticket_events e WHERE e.ticket_id = t.id) ORDER BY id LIMIT 1)")]
    assert len(codes) == 2
    fast_schema, plain = build_schema(), build_schema(fast_path=False)
    resolved: list[str] = []

    class Counting(FastExecutionContext):
        def execute_field(self, parent_type: Any, source: Any, field_details: Any,
                          *args: Any, **kwargs: Any) -> Any:
            resolved.append(field_details[0].node.name.value)
            return super().execute_field(parent_type, source, field_details, *args, **kwargs)

    fast_schema.execution_context_class = Counting
    county = Actor("fast-test", Role.COUNTY_OFFICE)
    for code in codes:
        resolved.clear()
        context = Context(db=database, actor=county)
        got = await fast_schema.execute(TICKET, variable_values={"code": code},
                                        context_value=context)
        expected = await plain.execute(TICKET, variable_values={"code": code},
                                       context_value=Context(db=database, actor=county))
        assert got.errors is None and expected.errors is None
        assert got.data == expected.data and got.data and got.data["ticket"]
        assert resolved == ["ticket", "events"]
        assert not any(isinstance(v, DataLoader) for v in vars(context.loaders).values())


def test_nearby_tickets_runs_its_declared_resolver() -> None:
    """One implementation: the installed schema resolves `nearbyTickets` through Strawberry's
    wrapper of the resolver declared in schema/places.py, as the schema without the fast path."""
    fast, plain = build_schema(), build_schema(fast_path=False)
    for schema in (fast, plain):
        field = schema._schema.type_map["Query"].fields["nearbyTickets"]  # type: ignore[union-attr]
        definition = field.extensions["strawberry-definition"]
        assert definition.base_resolver.wrapped_func.__qualname__ == "PlaceQuery.nearby_tickets"
        assert field.resolve.__module__.startswith("strawberry.")


async def test_outlines_pass_through_as_postgis_wrote_them(database: Database,
                                                           client: TestClient,
                                                           conninfo: str) -> None:
    """An outline in WGS84 is the text of ST_AsGeoJSON, never parsed on the way: the value the
    schema completes carries it, and the HTTP body holds it byte for byte."""
    with psycopg.connect(conninfo) as conn:
        code, text = conn.execute("SELECT code, ST_AsGeoJSON(geom, 7) FROM communities "
                                  "ORDER BY code LIMIT 1").fetchone()  # type: ignore[misc]
    query = "query ($c: String!) { community(code: $c) { geometry } }"
    result = await build_schema().execute(
        query, variable_values={"c": code},
        context_value=Context(db=database, actor=Actor("fast-test", Role.COUNTY_OFFICE)))
    geometry = result.data["community"]["geometry"]  # type: ignore[index]
    assert isinstance(geometry, RawJSON) and geometry.text == text
    body = client.post("/graphql", json={"query": query, "variables": {"c": code}}).content
    assert body == b'{"data":{"community":{"geometry":' + text.encode() + b"}}}"
    assert geometry["type"] == "Polygon" and geometry == json.loads(text)  # read as a mapping


async def test_loaders_are_made_on_first_use(database: Database) -> None:
    """A request pays only for the DataLoaders it uses."""
    loaders = Context(db=database).loaders
    assert not any(isinstance(v, DataLoader) for v in vars(loaders).values())
    assert loaders.unit is loaders.unit
    assert [k for k, v in vars(loaders).items() if isinstance(v, DataLoader)] == ["unit"]
    assert (await loaders.zone.load("Z1")).code == "Z1"


def test_enum_outputs_are_remembered_only_when_accepted() -> None:
    calls: list[Any] = []

    def coerce(value: Any) -> Any:
        calls.append(value)
        if value == "bad":
            raise ValueError("not a member")
        return str(value).upper()

    remembered = fast.remembered(coerce)
    assert [remembered("a"), remembered("a")] == ["A", "A"] and calls == ["a"]
    for _ in range(2):
        with pytest.raises(ValueError, match="not a member"):
            remembered("bad")
    assert remembered(["x"]) == "['X']"  # unhashable: coerced every time
    assert calls == ["a", "bad", "bad", ["x"]]
    # Through the schema: a refused enum value is refused on every row, as graphql-core does.
    ROWS.append(Row(name="z", count=1, kind="not a kind", ratio=1.0, part=None, main=_part("m")))
    ROWS.append(Row(name="z", count=1, kind="not a kind", ratio=1.0, part=None, main=_part("m")))
    try:
        fast_schema, plain = _schemas()
        query = "{ items { name kind } }"
        got, expected = asyncio.run(fast_schema.execute(query)), asyncio.run(plain.execute(query))
        assert _answer(got) == _answer(expected)
        assert sum("kind" in (e.path or []) for e in got.errors or []) >= 2
    finally:
        del ROWS[-2:]
