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
from graphql.pyutils import AwaitableOrValue, Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

from geo.types import Crs
from resolvers import tickets
from resolvers.inputs import point_wgs84
from schema.geometry import point_geometry
from schema.notices import first_capped
from schema.types import TicketHit


def _point_geometry(root: Any, info: Any, crs: Any = Crs.WGS84) -> Any:
    return point_geometry(root.lon, root.lat, None if crs is None else Crs(crs))


def _value(member: Any) -> str:
    return str(getattr(member, "value", member))


async def _nearby_tickets(root: Any, info: Any, point: dict[str, Any], radiusM: float,  # noqa: N803
                          status: list[Any] | None = None, first: int | None = 20) -> list[TicketHit]:
    first_capped(info, first, tickets.MAX_PAGE)
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
    """A plain field answered without graphql-core's per-field machinery: a scalar or enum
    (`coerce`), or an object whose selection is executed straight away (`object_type`)."""

    get: Callable[[Any], Any]
    non_null: bool
    coerce: Callable[[Any], Any] | None = None
    object_type: GraphQLObjectType | None = None
    declared: GraphQLOutputType | None = None


# Object type → field name → Leaf; filled by `install`, read by the execution context. Keyed
# by the type object, so each schema built in a process has its own entries.
LEAVES: dict[GraphQLObjectType, dict[str, Leaf]] = {}


def _leaf(graphql_type: GraphQLOutputType, get: Callable[[Any], Any]) -> Leaf | None:
    non_null = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return Leaf(get, non_null, object_type=inner, declared=graphql_type)
    if not is_leaf_type(inner):
        return None
    assert isinstance(inner, GraphQLLeafType)
    return Leaf(get, non_null, coerce=inner.coerce_output_value, declared=graphql_type)


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes plain fields without graphql-core's per-field machinery.

    graphql-core resolves every field through a path, a resolve-info object, argument and
    awaitable checks and a chain of completion calls; for the ~100 plain fields of a
    nearbyTickets answer that is most of the GraphQL time. A field qualifies when it is a
    registered `Leaf`, its node has no arguments, no middleware wraps resolvers and (for an
    object) nothing is deferred. Anything unusual about a value (null on a non-null field, an
    exception, an awaitable, a value the type refuses) goes back to graphql-core, which
    reports it as it always does; errors inside an object's selection are handled as
    graphql-core's `execute_field` handles them.
    """

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any,
                       path: Path | None, grouped_field_set: GroupedFieldSet,
                       position_context: Any) -> AwaitableOrValue[dict[str, Any]]:
        leaves = LEAVES.get(parent_type)
        if leaves is None or position_context is not None or (
                self.middleware_manager is not None
                and self.middleware_manager._middleware_resolvers is not None):  # noqa: SLF001
            return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                          position_context)
        results: dict[str, Any] = {}
        pending: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, details in grouped_field_set.items():
                result = self._fast_field(parent_type, source_value, path, response_name,
                                          details, leaves)
                if result is Undefined:
                    result = self.execute_field(parent_type, source_value, details,
                                                Path(path, response_name, parent_type.name), None)
                    if result is Undefined:  # a field the schema does not know: left out
                        continue
                results[response_name] = result
                if is_awaitable(result):
                    pending.append(response_name)
        except Exception:
            if pending:  # as graphql-core does: the others may fail too, and must be awaited
                self.settle_in_background([results[name] for name in pending])
            raise
        if not pending:
            return results

        async def settled() -> dict[str, Any]:
            awaited = await gather_with_cancel(*(results[name] for name in pending))
            results.update(zip(pending, awaited, strict=True))
            return results

        return settled()

    def complete_list_item_value(self, item: Any, complete_results: list[Any],
                                 item_type: GraphQLOutputType, field_details_list: Any,
                                 info: Any, item_path: Path, position_context: Any) -> bool:
        """A list item of a plain object type: its selection straight away, as
        graphql-core's `complete_list_item_value` would complete it."""
        inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if not (isinstance(inner, GraphQLObjectType) and inner in LEAVES
                and inner.is_type_of is None and position_context is None
                and item is not None and not isinstance(item, Exception)
                and not self.is_awaitable(item)):
            return super().complete_list_item_value(item, complete_results, item_type,
                                                    field_details_list, info, item_path,
                                                    position_context)
        grouped, deferred, _ = self.collect_subfields(inner, field_details_list)
        if deferred:
            return super().complete_list_item_value(item, complete_results, item_type,
                                                    field_details_list, info, item_path,
                                                    position_context)
        try:
            completed = self.execute_fields(inner, item, item_path, grouped, None)
        except Exception as raw_error:
            self.handle_field_error(raw_error, item_type, field_details_list, item_path)
            complete_results.append(None)
            return False
        if not self.is_awaitable(completed):
            complete_results.append(completed)
            return False

        async def awaited() -> Any:
            try:
                return await completed  # type: ignore[misc]
            except Exception as raw_error:
                self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                return None

        complete_results.append(awaited())
        return True

    def _fast_field(self, parent_type: GraphQLObjectType, source: Any, path: Path | None,
                    response_name: str, details: Any, leaves: dict[str, Leaf]) -> Any:
        """The completed value of a plain field, or Undefined to let graphql-core do it."""
        node = details[0].node
        leaf = leaves.get(node.name.value)
        if leaf is None or node.arguments:
            return Undefined
        try:
            value = leaf.get(source)
        except Exception:
            return Undefined
        if value is None:
            return Undefined if leaf.non_null else None
        if isinstance(value, Exception) or self.is_awaitable(value):
            return Undefined
        if leaf.coerce is not None:
            try:
                coerced = leaf.coerce(value)
            except Exception:
                return Undefined
            return Undefined if coerced is None else coerced
        assert leaf.object_type is not None and leaf.declared is not None
        grouped, deferred, _ = self.collect_subfields(leaf.object_type, details)
        if deferred:
            return Undefined
        field_path = Path(path, response_name, parent_type.name)
        try:
            completed = self.execute_fields(leaf.object_type, value, field_path, grouped, None)
        except Exception as raw_error:
            self.handle_field_error(raw_error, leaf.declared, details, field_path)
            return None
        if not self.is_awaitable(completed):
            return completed

        async def awaited() -> Any:
            try:
                return await completed  # type: ignore[misc]
            except Exception as raw_error:
                self.handle_field_error(raw_error, leaf.declared, details,  # type: ignore[arg-type]
                                        field_path)
                return None

        return awaited()


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
