"""Variable values of a prepared query document, coerced by a plan made once per document.

graphql-core's `get_variable_values` walks each variable's type afresh for every request (a
type check per level, a path per value, a nesting check before it): for a map request's
box, about a tenth of the prepared lane's CPU. `VariablePlan` decides once per operation how
each variable's value is coerced, and coerces the values that need nothing else: present
values of built-in or custom scalars, enums, lists given as lists, and input objects without
`@oneOf` (their absent fields given their defaults). Anything else (an absent variable with
a default or of a non-null type, a value of the wrong shape, a scalar that refuses its
value, nesting past `MAX_DEPTH`) makes the plan give up, and graphql-core coerces the values as
before, reporting the errors the caller sees. What the plan gives equals what graphql-core
gives (tests/schema/test_variables.py).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    Undefined,
    VariableDefinitionNode,
    is_leaf_type,
    is_required_input_field,
)
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import VariableValues, VariableValueSource
from graphql.utilities.coerce_input_value import coerce_default_value

# Deeper values (a recursive input type) are left to graphql-core, which bounds them itself.
MAX_DEPTH = 16


class Unfit(Exception):  # noqa: N818 - a signal, not an error
    """The plan does not coerce these values: graphql-core does."""


Coerce = Callable[[Any, int], Any]


class VariablePlan:
    """How the variables of one operation are coerced."""

    __slots__ = ("_variables",)

    def __init__(self, variables: list[tuple[str, Any, Coerce, bool]]) -> None:
        self._variables = variables

    @classmethod
    def of(cls, schema: GraphQLSchema,
           definitions: Collection[VariableDefinitionNode]) -> VariablePlan | None:
        """The plan of an operation's variable definitions; None where a definition is not
        of an input type (graphql-core reports that)."""
        variables = []
        for definition in definitions:
            signature = get_variable_signature(schema, definition)
            if isinstance(signature, GraphQLError):
                return None
            try:
                coerce = _coercer(signature.type, {})
            except TypeError:
                return None
            variables.append((signature.name, signature, coerce,
                              isinstance(signature.type, GraphQLNonNull)
                              or definition.default_value is not None))
        return cls(variables)

    def coerce(self, inputs: Mapping[str, Any]) -> VariableValues:
        """The variable values of `inputs` as `get_variable_values` gives them; Unfit where
        it must give them (see the module's docstring)."""
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for name, signature, coerce, needs_value in self._variables:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if needs_value:
                    raise Unfit
                sources[name] = VariableValueSource(signature)
                continue
            sources[name] = VariableValueSource(signature, value)
            coerced[name] = coerce(value, 0)
        return VariableValues(sources, coerced)


def _coercer(type_: GraphQLInputType, made: dict[str, Coerce]) -> Coerce:
    """The coercion of a value of `type_`; `made` holds the input objects' coercions made so
    far (a recursive input type refers to its own)."""
    if isinstance(type_, GraphQLNonNull):
        inner = _coercer(type_.of_type, made)

        def non_null(value: Any, depth: int) -> Any:
            if value is None:
                raise Unfit
            return inner(value, depth)
        return non_null
    if isinstance(type_, GraphQLList):
        item = _coercer(type_.of_type, made)

        def listed(value: Any, depth: int) -> Any:
            if value is None:
                return None
            if not isinstance(value, list) or depth >= MAX_DEPTH:
                raise Unfit  # a single value stands for a list of one: graphql-core's
            return [item(v, depth + 1) for v in value]
        return listed
    if isinstance(type_, GraphQLInputObjectType):
        return _input_object(type_, made)
    if is_leaf_type(type_):
        parse = type_.coerce_input_value  # type: ignore[union-attr]

        def leaf(value: Any, depth: int) -> Any:
            if value is None:
                return None
            try:
                result = parse(value)
            except Exception as exc:  # noqa: BLE001 - graphql-core reports the refusal
                raise Unfit from exc
            if result is Undefined:
                raise Unfit
            return result
        return leaf
    raise TypeError(f"{type_} is not an input type")


def _input_object(type_: GraphQLInputObjectType, made: dict[str, Coerce]) -> Coerce:
    known = made.get(type_.name)
    if known is not None:
        return known
    fields: dict[str, tuple[str, Coerce, Any]] = {}

    def input_object(value: Any, depth: int) -> Any:
        if value is None:
            return None
        if type(value) is not dict or depth >= MAX_DEPTH:
            raise Unfit
        out: dict[str, Any] = {}
        given = 0
        for name, (out_name, coerce, default) in fields.items():  # graphql-core's order
            if name in value:
                out[out_name] = coerce(value[name], depth + 1)
                given += 1
            elif default is _REQUIRED:
                raise Unfit  # a non-null field left out
            elif default is not Undefined:
                out[out_name] = default  # graphql-core's memoized default, as it gives it
        if given != len(value):
            raise Unfit  # an unknown field
        return type_.out_type(out)

    if type_.is_one_of:
        def one_of(value: Any, depth: int) -> Any:
            raise Unfit
        made[type_.name] = one_of
        return one_of
    made[type_.name] = input_object
    for name, f in type_.fields.items():
        fields[name] = (f.out_name or name, _coercer(f.type, made), _default(f))
    return input_object


def _default(f: GraphQLInputField) -> Any:
    """What an input field left out becomes: its default as graphql-core coerces it (once:
    it memoizes it on the field), Undefined for none, _REQUIRED for a non-null field."""
    if is_required_input_field(f):
        return _REQUIRED
    try:
        return coerce_default_value(f)
    except Exception:  # noqa: BLE001 - an invalid default: graphql-core reports it
        return _REQUIRED


_REQUIRED = object()
