"""A prepared document's variable plan (schema/variables.py) coerces values exactly as
graphql-core's `get_variable_values` does, or leaves them to it."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, parse, print_ast
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema import build_schema
from schema.variables import MAX_DEPTH, Unfit, VariablePlan

# Variable definitions of the schema's input types: scalars, enums, lists, input objects
# with defaults (BBoxInput.crs, TicketFilter's nulls) and without.
DEFINITIONS = ("$bbox: BBoxInput!, $point: PointInput, $filter: TicketFilter, "
               "$first: Int, $code: String!, $statuses: [TicketStatus!], $since: DateTime, "
               "$near: Float = 1000, $ids: [[ID]]")


@cache
def _schema() -> GraphQLSchema:
    return build_schema()._schema


def _definitions(text: str = DEFINITIONS) -> Any:
    operation = parse(f"query Q({text}) {{ __typename }}").definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.variable_definitions


def _both(inputs: dict[str, Any], text: str = DEFINITIONS) -> tuple[Any, Any]:
    """graphql-core's answer, and the plan's (Unfit where it leaves the values)."""
    definitions = _definitions(text)
    expected = get_variable_values(_schema(), definitions, inputs, max_errors=50)
    plan = VariablePlan.of(_schema(), definitions)
    assert plan is not None
    try:
        return expected, plan.coerce(inputs)
    except Unfit:
        return expected, Unfit


def _same(expected: Any, got: Any) -> None:
    if got is Unfit:
        return  # graphql-core answers, errors and all
    assert isinstance(expected, VariableValues), f"the plan accepted what failed: {expected}"
    assert isinstance(got, VariableValues)
    assert _plain(got.coerced) == _plain(expected.coerced)
    assert set(got.sources) == set(expected.sources)
    for name, source in expected.sources.items():
        assert _signature(got.sources[name].signature) == _signature(source.signature)
        assert got.sources[name].value is source.value or got.sources[name].value == source.value


def _signature(signature: Any) -> tuple[Any, ...]:
    default = signature.default
    return (signature.name, str(signature.type),
            None if default is None else print_ast(default.literal))


def _plain(value: Any) -> Any:
    """Coerced values as comparable data (NaN aside, none holds anything but data)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}, list(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value, type(value)


VALID = [
    {"bbox": {"west": 118.3, "south": 35.1, "east": 118.4, "north": 35.2}, "code": "T1",
     "near": 1000.0},
    {"bbox": {"west": 118, "south": 35, "east": 119, "north": 36, "crs": "GCJ02"}, "code": "x",
     "point": {"lon": 118.35, "lat": 35.06}, "first": 20, "near": 5,
     "statuses": ["SUBMITTED", "IN_PROGRESS"], "since": "2026-05-01T00:00:00+08:00"},
    {"bbox": {"west": 1.5, "south": 2, "east": 3, "north": 4}, "code": "",
     "filter": {"zoneCode": "Z01", "overdue": True, "status": ["DISPATCHED"]}, "point": None,
     "ids": [["1", 2], None, []], "statuses": None, "near": None},
    {"bbox": {"west": 1.5, "south": 2, "east": 3, "north": 4}, "code": "c", "filter": {},
     "near": 0},
]


@pytest.mark.parametrize("inputs", VALID)
def test_the_plan_coerces_valid_values_as_graphql_core_does(inputs: dict[str, Any]) -> None:
    expected, got = _both(inputs)
    assert isinstance(expected, VariableValues)
    assert got is not Unfit, "the plan should coerce these itself"
    _same(expected, got)
    # Defaults come from the type: a box without crs is WGS84, a filter's absent fields null.
    assert got.coerced["bbox"]["crs"] == expected.coerced["bbox"]["crs"]


INVALID = [
    {"code": "T1"},  # a non-null variable left out
    {"bbox": None, "code": "T1"},
    {"bbox": {"west": 1, "south": 2, "east": 3}, "code": "T1"},  # a required field left out
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4, "up": 5}, "code": "T1"},
    {"bbox": {"west": True, "south": 2, "east": 3, "north": 4}, "code": "T1"},
    {"bbox": {"west": "1", "south": 2, "east": 3, "north": 4}, "code": "T1"},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4, "crs": "MARS"}, "code": "T1"},
    {"bbox": [1, 2, 3, 4], "code": "T1"},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4}, "code": 5},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4}, "code": "c", "first": 2.5},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4}, "code": "c", "first": 2 ** 40},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4}, "code": "c", "statuses": [None]},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4}, "code": "c", "since": "May"},
    {"bbox": {"west": 1, "south": 2, "east": 3, "north": 4}, "code": "c", "point": {"lon": 1}},
]


@pytest.mark.parametrize("inputs", INVALID)
def test_the_plan_leaves_invalid_values_to_graphql_core(inputs: dict[str, Any]) -> None:
    expected, got = _both(inputs)
    assert not isinstance(expected, VariableValues), "graphql-core should refuse these"
    assert got is Unfit


def test_the_plan_leaves_what_graphql_core_fills_in_or_reshapes() -> None:
    box = {"west": 1, "south": 2, "east": 3, "north": 4}
    # An absent variable with a default; a single value where a list is expected.
    for inputs in ({"bbox": box, "code": "c"}, {"bbox": box, "code": "c", "near": 1,
                                                 "statuses": "CLOSED"}):
        expected, got = _both(inputs)
        assert isinstance(expected, VariableValues)
        assert got is Unfit
    expected, got = _both({"bbox": box, "code": "c", "near": 1})
    assert got is not Unfit
    _same(expected, got)


def test_values_nested_past_the_plan_s_depth_go_to_graphql_core() -> None:
    deep: Any = ["x"]
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    text = "$deep: " + "[" * (MAX_DEPTH + 3) + "ID" + "]" * (MAX_DEPTH + 3)
    expected, got = _both({"deep": deep}, text)
    assert got is Unfit
    assert isinstance(expected, VariableValues)


def test_an_operation_with_a_variable_of_an_output_type_has_no_plan() -> None:
    assert VariablePlan.of(_schema(), _definitions("$t: Ticket")) is None


# Any JSON value in the places the types expect (and a few others).
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 33, 2 ** 33),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                     st.sampled_from(["SUBMITTED", "WGS84", "GCJ02", "2026-05-01T08:00:00Z"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["west", "south", "east", "north", "crs", "lon", "lat",
                                     "zoneCode", "status", "overdue", "x"]), inner,
                    max_size=6)), max_leaves=12)


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values seven times in eight, anything else the eighth."""
    return st.one_of(*[valid] * 7, _json)


_number = st.one_of(st.integers(-2 ** 31, 2 ** 31 - 1), st.floats(-1e6, 1e6))
_box = st.fixed_dictionaries(
    {"west": _mostly(_number), "south": _mostly(_number), "east": _number, "north": _number},
    optional={"crs": _mostly(st.sampled_from(["WGS84", "GCJ02", "BD09", None])),
              "up": _scalars})
_filter = st.fixed_dictionaries({}, optional={
    "zoneCode": _mostly(st.text(max_size=3)), "overdue": st.booleans(),
    "status": _mostly(st.lists(st.sampled_from(["SUBMITTED", "CLOSED", "REJECTED"]),
                               max_size=3)),
    "createdFrom": st.sampled_from(["2026-05-01T08:00:00Z", "2026-05-01", "May"])})
_inputs = st.fixed_dictionaries(
    {"bbox": _mostly(_box), "code": _mostly(st.text(max_size=4)),
     "near": _mostly(st.one_of(st.none(), _number))},
    optional={"point": _mostly(st.fixed_dictionaries({"lon": _number, "lat": _number})),
              "filter": _mostly(st.one_of(st.none(), _filter)),
              "first": _mostly(st.one_of(st.none(), st.integers(-2 ** 31, 2 ** 31 - 1))),
              "statuses": _mostly(st.one_of(st.none(), st.lists(st.sampled_from(
                  ["SUBMITTED", "DISPATCHED"]), max_size=3))),
              "since": st.sampled_from([None, "2026-05-01T08:00:00+08:00", "then"]),
              "ids": _mostly(st.lists(st.one_of(st.none(), st.lists(st.one_of(
                  st.text(max_size=2), st.integers(0, 99)), max_size=2)), max_size=3))})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_inputs)
def test_any_values_coerce_alike_or_go_to_graphql_core(inputs: dict[str, Any]) -> None:
    expected, got = _both(inputs)
    if got is not Unfit and isinstance(expected, VariableValues):
        nan = [k for k, v in expected.coerced.items() if isinstance(v, float) and math.isnan(v)]
        assert not nan  # graphql-core refuses NaN: it cannot be here
    _same(expected, got)
