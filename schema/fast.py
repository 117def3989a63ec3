"""Resolvers installed straight into graphql-core for the hottest fields.

Strawberry wraps every field in its own machinery and converts arguments on every call; on
`nearbyTickets` (20 hits) that cost more than the SQL (measured: 2.0 ms of GraphQL work on a
0.9 ms query). These functions answer exactly as the Strawberry fields declared in `schema/`
do — same arguments, same validation, same errors — with one call each. Ticket rows serve as
`Ticket` values directly: every plain field resolves by attribute, and the relation fields read
the same attributes from the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import strawberry
from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from geo.types import Crs
from resolvers import tickets
from resolvers.inputs import point_wgs84
from schema.geometry import point_geometry
from schema.types import TicketHit


def _point_geometry(root: Any, info: Any, crs: Any = Crs.WGS84) -> Any:
    return point_geometry(root.lon, root.lat, None if crs is None else Crs(crs))


def _value(member: Any) -> str:
    return str(getattr(member, "value", member))


async def _nearby_tickets(root: Any, info: Any, point: dict[str, Any], radiusM: float,  # noqa: N803
                          status: list[Any] | None = None, first: int | None = 20) -> list[TicketHit]:
    crs = point.get("crs")
    where = point_wgs84(point["lon"], point["lat"], Crs.WGS84 if crs is None else Crs(_value(crs)))
    rows = await tickets.nearby_tickets(
        info.context.db, info.context.actor, where, radius_m=radiusM,
        statuses=None if status is None else [_value(s) for s in status],
        first=20 if first is None else first)
    return [TicketHit(distance_m=r.distance_m, ticket=r) for r in rows]


def _attribute(python_name: str) -> Any:
    get = attrgetter(python_name)

    def resolve(root: Any, info: Any) -> Any:
        return get(root)

    return resolve


@dataclass(frozen=True, slots=True)
class Leaf:
    """A scalar or enum field answered without graphql-core's per-field machinery."""

    get: Callable[[Any], Any]
    coerce: Callable[[Any], Any]
    non_null: bool


# Object type → field name → Leaf; filled by `install`, read by the execution context. Keyed
# by the type object, so each schema built in a process has its own entries.
LEAVES: dict[GraphQLObjectType, dict[str, Leaf]] = {}


def _leaf(graphql_type: GraphQLOutputType, get: Callable[[Any], Any]) -> Leaf | None:
    non_null = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    if not is_leaf_type(inner):
        return None
    assert isinstance(inner, GraphQLLeafType)
    return Leaf(get, inner.coerce_output_value, non_null)


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes plain scalar and enum fields in one step each.

    graphql-core resolves every field through a path, a resolve-info object, argument and
    awaitable checks and a chain of completion calls; for the ~80 plain leaves of a
    nearbyTickets answer that is most of the GraphQL time. A field qualifies when it is a
    registered `Leaf`, its node has no arguments and no middleware wraps resolvers; anything
    unusual about the value (null on a non-null field, an exception, an awaitable, a value
    the type refuses) goes back to graphql-core, which reports it as it always does.
    """

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any,
                       path: Path | None, grouped_field_set: GroupedFieldSet,
                       position_context: Any) -> AwaitableOrValue[dict[str, Any]]:
        leaves = LEAVES.get(parent_type)
        if leaves is None or self.middleware_manager is not None and \
                self.middleware_manager._middleware_resolvers is not None:  # noqa: SLF001
            return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                          position_context)
        done: dict[str, Any] = {}
        rest: GroupedFieldSet = {}
        is_awaitable = self.is_awaitable
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            leaf = leaves.get(node.name.value)
            if leaf is None or node.arguments:
                rest[response_name] = details
                continue
            try:
                value = leaf.get(source_value)
            except Exception:
                rest[response_name] = details
                continue
            if value is None:
                if leaf.non_null:
                    rest[response_name] = details
                else:
                    done[response_name] = None
                continue
            if isinstance(value, Exception) or is_awaitable(value):
                rest[response_name] = details
                continue
            try:
                coerced = leaf.coerce(value)
            except Exception:
                coerced = None
            if coerced is None or coerced is Undefined:
                rest[response_name] = details
            else:
                done[response_name] = coerced
        if not rest:
            return done
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if not is_awaitable(others):
            return _in_order(grouped_field_set, done, others)  # type: ignore[arg-type]

        async def merged() -> dict[str, Any]:
            return _in_order(grouped_field_set, done, await others)  # type: ignore[misc]

        return merged()


def _in_order(grouped_field_set: GroupedFieldSet, done: dict[str, Any],
              others: dict[str, Any]) -> dict[str, Any]:
    # Fields the schema does not know are left out by graphql-core: keep them out.
    return {name: done[name] if name in done else others[name]
            for name in grouped_field_set if name in done or name in others}


def _object_type(schema: strawberry.Schema, name: str) -> GraphQLObjectType:
    graphql_type = schema._schema.type_map[name]
    assert isinstance(graphql_type, GraphQLObjectType)
    return graphql_type


def plain_fields(schema: strawberry.Schema) -> strawberry.Schema:
    """Resolves fields without a resolver by attribute, and completes the scalar and enum ones
    among them in `FastExecutionContext`."""
    for graphql_type in schema._schema.type_map.values():
        if graphql_type.name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        # Walk the GraphQL fields, each with the Strawberry field it came from: private
        # attributes are not fields, so they can never be exposed this way.
        for field_name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get("strawberry-definition")
            if isinstance(field, StrawberryField) and field.base_resolver is None \
                    and not field.extensions:
                graphql_field.resolve = _attribute(field.python_name)
                leaf = _leaf(graphql_field.type, attrgetter(field.python_name))
                if leaf is not None and not graphql_field.args:
                    LEAVES.setdefault(graphql_type, {})[field_name] = leaf
    return schema


def install(schema: strawberry.Schema) -> strawberry.Schema:
    """Resolves plain fields by attribute, point geometry and `nearbyTickets` directly."""
    plain_fields(schema)
    for type_name in ("Ticket", "Facility"):
        object_type = _object_type(schema, type_name)
        geometry = object_type.fields["geometry"]
        geometry.resolve = _point_geometry
        # Without arguments, `crs` takes its default, WGS84: what `_point_geometry` assumes.
        assert geometry.args["crs"].default_value == Crs.WGS84.name
        leaf = _leaf(geometry.type, lambda root: point_geometry(root.lon, root.lat, Crs.WGS84))
        assert leaf is not None
        LEAVES.setdefault(object_type, {})["geometry"] = leaf
    _object_type(schema, "Query").fields["nearbyTickets"].resolve = _nearby_tickets
    return schema
