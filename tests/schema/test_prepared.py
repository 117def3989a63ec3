"""Prepared queries (schema/prepared.py) answer exactly as the full path does, or leave the
request to it: on a schema of awkward values, and on the demo county over HTTP for every kind
of caller."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
)
from starlette.routing import Route
from starlette.testclient import TestClient
from strawberry.extensions import SchemaExtension
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from db.vocabulary import OPEN_STATUSES
from schema import build_schema, prepared
from schema.fast import FastExecutionContext, FastPathError, plain_fields
from schema.limits import Limits, limit_extensions
from schema.prepared import (
    MAX_DOCUMENT_CHARS,
    Declined,
    PreparedQueries,
    _Resumed,
    argument_converter,
    direct_resolver,
)
from tests.conftest import observed
from tests.schema.awkward import Query
from web.app import RedGridGraphQL, create_app
from web.settings import Settings

# -- a schema of awkward values ---------------------------------------------------------------


class Shout(SchemaExtension):
    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


def _seen_twice(lane: PreparedQueries, query: str, name: str | None = None) -> Any:
    """A document as the lane has it once a client has sent it a second time."""
    lane.prepare(query, name)
    return lane.prepare(query, name)


def _schema(extensions: list[Any] | None = None) -> strawberry.Schema:
    return plain_fields(strawberry.Schema(Query, execution_context_class=FastExecutionContext,
                                          extensions=extensions or []))


ANSWERED = [  # (query, variables): the lane answers these
    ("{ items(good: true) { name count kind ratio } }", None),
    ("{ items(good: true) { a: name b: name count kind __typename } }", None),
    ("query Q($i: Int!) { item(index: $i) { name main { label later } } }", {"i": 0}),
    ("query Q($t: Int = 3) { item(index: 0) { part { later(times: $t) } } }", None),
    ("query Q($t: Int) { item(index: 0) { part { later(times: $t) } } }", {"t": 5}),
    ("{ item(index: 0) { parts(first: 3) { label weight later } } }", None),
    ("query Q($n: Int!) { item(index: 0) { parts(first: $n) { label } } }", {"n": 0}),
]
DECLINED = [  # the full path answers these with errors: the lane must leave them to it
    ("{ items { name count kind ratio } }", None),  # null on non-null, a refused value, NaN
    ("{ items { part { label later } main { weight later } } }", None),  # an async failure
    ("{ item(index: 0) { name secret } }", None),  # a permission class denies
    ("{ item(index: 2) { name main { label } } }", None),  # null deep on a non-null field
    ("query Q($i: Int!) { item(index: $i) { name } }", {"i": "zero"}),  # a bad variable
    ("query Q($i: Int!) { item(index: $i) { name } }", {}),  # a missing variable
]
NOT_COMPILED = [  # fragments, directives, several operations, introspection, invalid
    "{ items(good: true) { ...F } } fragment F on Item { name }",
    "{ items(good: true) { name @include(if: false) kind } }",
    "query A { items { name } } query B { item(index: 0) { name } }",
    "{ __schema { queryType { name } } }",
    "{ items { nope } }",
    "mutation { nothing }",
    "{ items(good: true) { name } items(good: true) { kind } }",  # merged under one key
]


@pytest.mark.parametrize(("query", "variables"), ANSWERED)
async def test_the_lane_answers_what_the_full_path_answers(query: str,
                                                           variables: Any) -> None:
    schema = _schema()
    lane = PreparedQueries(schema, None, production=False)
    prepared = _seen_twice(lane, query)
    assert prepared is not None
    got = await lane.answer(prepared, None, variables)
    expected = await schema.execute(query, variable_values=variables)
    assert expected.errors is None
    assert got == {"data": expected.data}


@pytest.mark.parametrize(("query", "variables"), DECLINED)
async def test_the_lane_declines_what_the_full_path_answers_with_errors(query: str,
                                                                        variables: Any) -> None:
    schema = _schema()
    lane = PreparedQueries(schema, None, production=False)
    prepared = _seen_twice(lane, query)
    assert prepared is not None
    with pytest.raises(Declined):
        await lane.answer(prepared, None, variables)
    assert (await schema.execute(query, variable_values=variables)).errors


@pytest.mark.parametrize("query", NOT_COMPILED)
def test_documents_the_lane_does_not_take(query: str) -> None:
    lane = PreparedQueries(_schema(), None, production=False)
    assert _seen_twice(lane, query) is None


def test_a_document_is_compiled_when_seen_again_and_only_if_short() -> None:
    lane = PreparedQueries(_schema(), None, production=False)
    query = "{ items(good: true) { name } }"
    assert lane.prepare(query, None) is None  # once: a client may never send it again
    prepared = lane.prepare(query, None)
    assert prepared is not None and lane.prepare(query, None) is prepared
    padded = query + " " * MAX_DOCUMENT_CHARS
    assert _seen_twice(lane, padded) is None


BOUNDED = [  # (depth, aliases, tokens, query)
    (1, 5, 1000, "{ item(index: 0) { main { label } } }"),
    (2, 5, 1000, "{ item(index: 0) { main { label } } }"),
    (5, 1, 1000, "{ a: items(good: true) { name } b: items(good: true) { name } }"),
    (5, 2, 1000, "{ a: items(good: true) { name } b: items(good: true) { name } }"),
    (5, 5, 8, "{ item(index: 0) { main { label } } }"),
    (5, 5, 30, "{ item(index: 0) { main { label } } }"),
]


@pytest.mark.parametrize(("depth", "aliases", "tokens", "query"), BOUNDED)
async def test_bounds_are_checked_once_per_document_as_the_full_path_checks_them(
        depth: int, aliases: int, tokens: int, query: str) -> None:
    limits = Limits(max_depth=depth, max_aliases=aliases, max_tokens=tokens, max_cost=1000)
    full = await _schema(limit_extensions(limits, production=False)).execute(query)
    lane = PreparedQueries(_schema(), limits, production=False)
    prepared = _seen_twice(lane, query)
    assert (prepared is None) == bool(full.errors), full.errors
    assert lane.prepare(query, None) is prepared  # parsed and validated once


def test_introspection_and_other_operation_names_are_left_to_the_full_path() -> None:
    lane = PreparedQueries(_schema(), None, production=True)
    assert _seen_twice(lane, "{ __type(name: \"Item\") { name } }") is None
    assert _seen_twice(lane, "query Q { items { name } }", "P") is None
    assert _seen_twice(lane, "query Q { items { name } }", "Q") is not None


async def test_cost_over_budget_is_left_to_the_full_path() -> None:
    query = "query Q($n: Int!) { item(index: 0) { parts(first: $n) { label } } }"
    lane = PreparedQueries(_schema(), Limits(10, 10, 1000, max_cost=30), production=False)
    prepared = _seen_twice(lane, query)
    assert prepared is not None
    assert await lane.answer(prepared, None, {"n": 2}) == {
        "data": {"item": {"parts": [{"label": "ok0"}, {"label": "ok1"}]}}}
    with pytest.raises(Declined):
        await lane.answer(prepared, None, {"n": 500})


async def test_nul_in_a_variable_is_left_to_the_full_path() -> None:
    lane = PreparedQueries(_schema(), None, production=False)
    prepared = _seen_twice(lane, "query Q($i: Int!) { item(index: $i) { name } }")
    assert prepared is not None
    with pytest.raises(Declined):
        await lane.answer(prepared, None, {"i": 0, "x": "a\x00b"})
    deep: Any = 0
    for _ in range(2000):  # nested past the interpreter's recursion limit
        deep = [deep]
    with pytest.raises(Declined):
        await lane.answer(prepared, None, {"i": 0, "x": deep})


def test_a_resolve_hook_turns_the_lane_off() -> None:
    assert PreparedQueries(_schema(), None, production=False).enabled
    assert not PreparedQueries(_schema([Shout]), None, production=False).enabled


# -- the demo county over HTTP ----------------------------------------------------------------

STATUSES = ", ".join(OPEN_STATUSES)
DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    (f"""query Q1($point: PointInput!) {{ nearbyTickets(point: $point, radiusM: 1000,
        status: [{STATUSES}], first: 20) {{ distanceM ticket {{ code status geometry }} }} }}""",
     {"point": {"lon": 118.64, "lat": 34.93}}),
    ("""query Q2($bbox: BBoxInput!) { communities(bbox: $bbox) { code name geometry
        __typename } }""",
     {"bbox": {"west": 118.62, "south": 34.90, "east": 118.66, "north": 34.95}}),
    ("""query Q4($point: PointInput!) { locate(point: $point) {
        gridCell { code households } compound { code name } community { code name }
        zone { code name } street { code name }
        nearestFacilities(kind: CLINIC, first: 2) { distanceM facility { code name } } } }""",
     {"point": {"lon": 118.64, "lat": 34.93}}),
    ("""query { zones { code name communities { code gridCells { code } } } }""", {}),
    # a notice (first above its cap) and a point outside the county: the full path answers
    (f"""query Q1($point: PointInput!) {{ nearbyTickets(point: $point, radiusM: 1000,
        status: [{STATUSES}], first: 500) {{ ticket {{ code }} }} }}""",
     {"point": {"lon": 118.64, "lat": 34.93}}),
    ("""query Q4($point: PointInput!) { locate(point: $point) { gridCell { code } } }""",
     {"point": {"lon": 100.0, "lat": 30.0}}),
]
TICKET = """query Q3($code: String!) { ticket(code: $code) {
  code status level itemCode createdAt dueAt version gridCell { code households }
  compound { code name } community { code name } responsibleUnit { code name kind }
  events { at action fromStatus toStatus note } } }"""


@pytest.fixture(scope="module")
def app_client(settings: Settings) -> Iterator[tuple[TestClient, RedGridGraphQL]]:
    app = create_app(settings)
    view = next(r.endpoint for r in app.routes
                if isinstance(r, Route) and r.path == "/graphql")
    assert isinstance(view, RedGridGraphQL)
    with TestClient(app) as client:
        yield client, view


def _both(client: TestClient, view: RedGridGraphQL, query: str, variables: dict[str, Any],
          token: str | None) -> tuple[Any, Any, int]:
    """The answer with the lane and without it (status, headers in order but the request id,
    body), and how many requests the lane answered."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    view.prepared.prepare(query, None)  # seen before: the lane takes it if it can
    before = view.prepared.answered
    answers = []
    for enabled in (True, False):
        view.prepared.enabled = enabled
        try:
            response = client.post("/graphql", json={"query": query, "variables": variables},
                                   headers=headers)
        finally:
            view.prepared.enabled = True
        answers.append((response.status_code, [
            (k, v) for k, v in response.headers.raw if k.lower() != b"x-request-id"],
            response.content))
    return answers[0], answers[1], view.prepared.answered - before


CALLERS = [("COUNTY_OFFICE",), ("GRID_WORKER", "371329001003"), ("GRID_WORKER", "371329002"),
           ("RESIDENT",), ("PLANNER",), None]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: "PUBLIC" if c is None else c[0])
@pytest.mark.parametrize(("query", "variables"), DOCUMENTS)
def test_every_caller_gets_the_full_paths_answer(app_client: Any, token: Any, caller: Any,
                                                 query: str, variables: dict[str, Any]) -> None:
    client, view = app_client
    bearer = token(*caller) if caller else None
    lane, full, answered = _both(client, view, query, variables, bearer)
    assert lane == full
    # errors come from the full path; everything else from the lane
    assert answered == int(b'"errors"' not in full[2])


def test_a_ticket_with_its_relations_in_scope_and_out_of_it(app_client: Any, token: Any,
                                                            db: Any) -> None:
    client, view = app_client
    code, cell = db.execute("SELECT code, cell_code FROM tickets WHERE cell_code LIKE "
                            "'371329001003%' ORDER BY code LIMIT 1").fetchone()
    for caller, shown in ((("COUNTY_OFFICE",), True), (("GRID_WORKER", cell), True),
                          (("GRID_WORKER", "371329002"), False), (("RESIDENT",), False),
                          (("PLANNER",), False), (None, False)):
        lane, full, answered = _both(client, view, TICKET, {"code": code},
                                     token(*caller) if caller else None)
        assert lane == full, caller
        assert answered == int(b'"errors"' not in full[2]), caller
        assert (code.encode() in full[2] and b'"events":[{' in full[2]) == shown, caller


def test_reads_of_reporter_fields_are_left_to_the_full_path(app_client: Any, token: Any,
                                                            db: Any) -> None:
    """A logged field is never compiled: a request the lane declined after reading it (for an
    error elsewhere, a timeout) would be run, and logged, twice."""
    client, view = app_client
    code = db.execute("SELECT code FROM tickets WHERE reporter_phone IS NOT NULL "
                      "ORDER BY code LIMIT 1").fetchone()[0]
    query = "query Q($c: String!) { ticket(code: $c) { code reporterPhone } }"
    assert _seen_twice(view.prepared, query) is None

    def logged() -> int:
        return int(db.execute("SELECT count(*) FROM personal_data_access a JOIN tickets t "
                              "ON t.id = a.ticket_id WHERE t.code = %s", (code,)).fetchone()[0])

    before = logged()
    lane, full, answered = _both(client, view, query, {"c": code}, token("COUNTY_OFFICE"))
    assert lane == full and answered == 0 and b'"reporterPhone":"1' in full[2]
    assert logged() == before + 2  # once for each of the two requests


@pytest.mark.parametrize(("content_type", "extra"), [
    ("Application/JSON", {}), ("application/json", {"extensions": 5}),
    ("application/json", {"extensions": []}), ("application/json; charset=utf-8", {}),
    ("application/graphql+json", {}), ("application/json", {"extensions": {}}),
])
def test_bodies_as_the_full_path_reads_them(app_client: Any, content_type: str,
                                            extra: dict[str, Any]) -> None:
    client, view = app_client
    body = orjson.dumps({"query": "{ zones { code } }", **extra})
    view.prepared.prepare("{ zones { code } }", None)
    answers = []
    for enabled in (True, False):
        view.prepared.enabled = enabled
        try:
            response = client.post("/graphql", content=body,
                                   headers={"Content-Type": content_type})
        finally:
            view.prepared.enabled = True
        answers.append((response.status_code, response.content))
    assert answers[0] == answers[1]


# -- arguments converted once, as Strawberry converts them ------------------------------------


def _sample(graphql_type: Any, nulls: bool) -> Any:
    """A coerced value of an input type: every field given (null where nullable, if `nulls`)."""
    if isinstance(graphql_type, GraphQLNonNull):
        return _sample(graphql_type.of_type, False)
    if nulls:
        return None
    if isinstance(graphql_type, GraphQLList):
        return [_sample(graphql_type.of_type, False), _sample(graphql_type.of_type, False)]
    if isinstance(graphql_type, GraphQLInputObjectType):
        return {name: _sample(f.type, nulls) for name, f in graphql_type.fields.items()}
    if isinstance(graphql_type, GraphQLEnumType):
        return next(iter(graphql_type.values.values())).value
    return {"Int": 3, "Float": 2.5, "String": "s", "Boolean": True, "ID": "7"}.get(
        graphql_type.name, OPAQUE)


OPAQUE = object()  # a custom scalar's parsed value: passed on as it is


def test_arguments_are_converted_as_strawberry_converts_them() -> None:
    schema = build_schema()
    registry = schema.schema_converter.scalar_registry
    covered = set()
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get("strawberry-definition")
            if not isinstance(field, StrawberryField) or not graphql_field.args:
                continue
            converted = argument_converter(schema, field)
            if converted is None:
                continue
            covered.add(f"{graphql_type.name}.{name}")
            for nulls in (False, True):
                args = {n: _sample(a.type, nulls) for n, a in graphql_field.args.items()}
                for given in (args, {}):  # every argument, and none (the defaults' absence)
                    assert converted(given) == convert_arguments(
                        given, field.arguments, scalar_registry=registry,
                        config=schema.config), f"{graphql_type.name}.{name}"
    assert {"Query.nearbyTickets", "Query.communities", "Query.locate", "Query.ticket",
            "Query.tickets", "Location.nearestFacilities"} <= covered
    assert len(covered) >= 40, covered


def test_the_hot_fields_call_their_declared_resolvers_directly() -> None:
    schema = build_schema()
    query = schema._schema.query_type
    assert query is not None
    for name in ("nearbyTickets", "communities", "locate", "ticket"):
        assert direct_resolver(schema, query.fields[name]) is not None, name
    # a permission class keeps Strawberry's wrapper
    toy = _schema()
    item = toy._schema.type_map["Item"]
    assert isinstance(item, GraphQLObjectType)
    assert direct_resolver(toy, item.fields["secret"]) is None
    assert direct_resolver(toy, item.fields["parts"]) is not None


def test_loads_of_one_depth_are_batched_as_the_full_path_batches_them(app_client: Any) -> None:
    """Resolvers of a depth take their first steps together, so a DataLoader sees all their
    keys at once: the same statements with the lane as without it."""
    client, view = app_client
    query = "{ zones { code communities { code compounds { code } gridCells { code } } } }"
    view.prepared.prepare(query, None)
    before = view.prepared.answered
    seen = []
    for enabled in (True, False):
        view.prepared.enabled = enabled
        try:
            with observed(client.app.state.db) as statements:  # type: ignore[attr-defined]
                response = client.post("/graphql", json={"query": query})
        finally:
            view.prepared.enabled = True
        assert response.status_code == 200 and "errors" not in response.json()
        seen.append(sorted(statements))
    assert view.prepared.answered == before + 1
    assert seen[0] == seen[1]
    assert len(seen[0]) == 4  # zones, then one statement per relation for all their keys


async def test_resumed_coroutines_go_on_as_awaited_ones() -> None:
    """Coroutines that took a first step and wait: on one future together (asyncio refuses a
    future awaited twice while marked), on one done meanwhile, through bare yields, with an
    exception, and cancelled."""
    loop = asyncio.get_running_loop()
    shared, failing, hanging = loop.create_future(), loop.create_future(), loop.create_future()

    async def plus_one() -> int:
        return int(await shared) + 1

    async def twice() -> int:
        await asyncio.sleep(0)
        value = await shared
        await asyncio.sleep(0.001)
        return int(value) * 2

    async def wait(future: asyncio.Future[Any]) -> Any:
        return await future

    def stepped(coroutine: Any) -> _Resumed:
        return _Resumed.after(coroutine, coroutine.send(None))

    resumed = [stepped(plus_one()), stepped(plus_one()), stepped(twice())]
    loop.call_later(0.001, shared.set_result, 20)
    assert await asyncio.gather(*resumed) == [21, 21, 40]
    done_meanwhile = loop.create_future()
    late = stepped(wait(done_meanwhile))
    done_meanwhile.set_result("ok")
    assert await late == "ok"
    loop.call_soon(failing.set_exception, ValueError("refused"))
    with pytest.raises(ValueError, match="refused"):
        await stepped(wait(failing))
    task = asyncio.ensure_future(stepped(wait(hanging)))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_single_load_gives_what_gather_would() -> None:
    """One waiting load is awaited in the request's own task, with gather's outcomes: a value,
    an exception, a load cancelled by someone else as a result; the request's own
    cancellation goes through, even to a load that swallows it."""
    loop = asyncio.get_running_loop()

    async def value() -> int:
        await asyncio.sleep(0)
        return 7

    async def failing() -> None:
        await asyncio.sleep(0)
        raise ValueError("refused")

    assert await prepared._together([value()]) == [7]
    assert isinstance((await prepared._together([failing()]))[0], ValueError)
    shared = loop.create_future()  # a shared task's future, cancelled elsewhere
    loop.call_soon(shared.cancel)
    got = await prepared._together([shared])
    assert isinstance(got[0], asyncio.CancelledError)
    gathered = await asyncio.gather(shared, return_exceptions=True)
    assert isinstance(gathered[0], asyncio.CancelledError)  # what gather gave before

    async def stubborn() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "carried on"
        return "slept"

    async def converting() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ValueError("stopped") from None

    for load in (lambda: asyncio.sleep(10), stubborn, converting):
        request = asyncio.ensure_future(prepared._together([load()]))
        await asyncio.sleep(0)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request


def test_the_lane_refuses_a_strawberry_it_was_not_written_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "STRAWBERRY_VERSION", "0.0.1")
    with pytest.raises(FastPathError, match="written for strawberry-graphql 0.0.1"):
        PreparedQueries(_schema(), None, production=False)
