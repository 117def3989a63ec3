"""A faster execution of plain fields, installed straight into graphql-core.

Strawberry wraps every field in its own machinery and graphql-core completes every field through
a chain of calls; on `nearbyTickets` (20 hits) that cost more than the SQL (measured: 2.0 ms of
GraphQL work on a 0.9 ms query). `install` takes over only what it can answer exactly as the
declared Strawberry fields do:

- fields without a resolver, extensions or permission classes resolve by attribute;
- `Ticket.geometry` and `Facility.geometry` call their declared resolver directly, and so do
  the outlines of streets, zones, communities, compounds and grid cells (per place, Strawberry's
  argument conversion alone cost more than loading the geometry).

Every field with a resolver of its own (`nearbyTickets` among them) keeps Strawberry's: there is
one implementation of each field. A field taken over by name that carries extensions or
permission classes, or a graphql-core other than the one `FastExecutionContext` was written
against, stops `install` with `FastPathError`: the fast path must never skip a check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import graphql
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLField,
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
from schema.geometry import known_outline
from schema.types import NOT_CARRIED, TICKET_CARRIED, TICKET_FIELDS, carried

# `FastExecutionContext` overrides graphql-core internals (`execute_fields` with its position
# context, `collect_subfields` returning three values, `complete_list_item_value`) whose
# signatures change between releases: it runs only on the release it was written and tested for.
GRAPHQL_CORE_VERSION = "3.3.2"


class FastPathError(RuntimeError):
    """`install` cannot take over a field, or this graphql-core is not the one it was written
    for."""


def _check_graphql_core(version: str) -> None:
    if version != GRAPHQL_CORE_VERSION:
        raise FastPathError(
            f"schema.fast was written for graphql-core {GRAPHQL_CORE_VERSION}, found {version}: "
            "check FastExecutionContext against the new execute_fields, collect_subfields and "
            "complete_list_item_value, run tests/schema/test_fast_execution.py, then update "
            "GRAPHQL_CORE_VERSION")


def _declared(graphql_type: GraphQLObjectType, field_name: str) -> tuple[GraphQLField,
                                                                       StrawberryField]:
    """A field to take over by name, refused when Strawberry would run anything around it."""
    graphql_field = graphql_type.fields[field_name]
    field = (graphql_field.extensions or {}).get("strawberry-definition")
    where = f"{graphql_type.name}.{field_name}"
    if not isinstance(field, StrawberryField):
        raise FastPathError(f"{where} is not a Strawberry field")
    if field.extensions or field.permission_classes:
        raise FastPathError(f"{where} has extensions or permission classes: the fast path would "
                            "skip them; leave it to Strawberry or drop it from schema.fast")
    if field.base_resolver is None:
        raise FastPathError(f"{where} has no resolver to call")
    return graphql_field, field


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
    # A list (of objects): answered here by schema.prepared only, which completes any type.
    listed: bool = False


# Object type → field name → Leaf; filled by `install`, read by the execution context. Keyed
# by the type object, so each schema built in a process has its own entries.
LEAVES: dict[GraphQLObjectType, dict[str, Leaf]] = {}


def remembered(coerce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An enum's output coercion, remembered per value it accepts (a handful: the members and
    their values); anything else goes to `coerce` every time."""
    accepted: dict[Any, Any] = {}

    def coerce_known(value: Any) -> Any:
        try:
            return accepted[value]
        except KeyError:
            coerced = coerce(value)
            if coerced is not None:
                accepted[value] = coerced
            return coerced
        except TypeError:  # unhashable
            return coerce(value)

    return coerce_known


def _leaf(graphql_type: GraphQLOutputType, get: Callable[[Any], Any]) -> Leaf | None:
    non_null = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return Leaf(get, non_null, object_type=inner, declared=graphql_type)
    if not is_leaf_type(inner):
        return None
    assert isinstance(inner, GraphQLLeafType)
    coerce = inner.coerce_output_value
    if isinstance(inner, GraphQLEnumType):
        coerce = remembered(coerce)
    return Leaf(get, non_null, coerce=coerce, declared=graphql_type)


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
        if leaf is None or node.arguments or leaf.listed:
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
                    and not field.extensions and not field.permission_classes:
                graphql_field.resolve = _attribute(field.python_name)
                leaf = _leaf(graphql_field.type, attrgetter(field.python_name))
                if leaf is not None and not graphql_field.args:
                    LEAVES.setdefault(graphql_type, {})[field_name] = leaf
    return schema


def _point_geometry(declared: Callable[..., Any]) -> tuple[Callable[..., Any],
                                                          Callable[[Any], Any]]:
    """A graphql-core resolver calling the declared `geometry(self, crs)`, and its value in
    WGS84 for a leaf."""

    def resolve(root: Any, info: Any, crs: Any = Crs.WGS84) -> Any:
        return declared(root, None if crs is None else Crs(crs))

    def default(root: Any) -> Any:
        return declared(root, Crs.WGS84)

    return resolve, default


def _place_geometry(declared: Callable[..., Any]) -> Callable[..., Any]:
    """A graphql-core resolver calling the declared `async geometry(self, info, crs)`."""

    def resolve(root: Any, info: Any, crs: Any = Crs.WGS84) -> Any:
        return declared(root, info, None if crs is None else Crs(crs))

    return resolve


# Types whose `geometry(info, crs)` is an outline loaded from PostGIS; of these, the ones that
# may carry their outline as listed (`outline`, read by `known_outline`).
PLACES = ("Street", "Zone", "Community", "Compound", "GridCell")
OUTLINED = ("Zone", "Community", "Compound", "GridCell")


def _checked_geometry(object_type: GraphQLObjectType) -> tuple[GraphQLField, Callable[..., Any]]:
    geometry, field = _declared(object_type, "geometry")
    assert field.base_resolver is not None
    # Without arguments, `crs` takes its default, WGS84: what the resolvers here assume.
    if geometry.args["crs"].default_value != Crs.WGS84.name:
        raise FastPathError(f"{object_type.name}.geometry no longer defaults to WGS84")
    declared: Callable[..., Any] = field.base_resolver.wrapped_func  # type: ignore[assignment]
    return geometry, declared


def install(schema: strawberry.Schema) -> strawberry.Schema:
    """Resolves plain fields by attribute, and point geometries by their declared resolver
    without Strawberry's wrapper."""
    _check_graphql_core(graphql.version)
    plain_fields(schema)
    for type_name in ("Ticket", "Facility"):
        object_type = _object_type(schema, type_name)
        geometry, declared = _checked_geometry(object_type)
        geometry.resolve, default = _point_geometry(declared)
        leaf = _leaf(geometry.type, default)
        assert leaf is not None
        LEAVES.setdefault(object_type, {})["geometry"] = leaf
    for type_name in PLACES:
        object_type = _object_type(schema, type_name)
        geometry, declared = _checked_geometry(object_type)
        geometry.resolve = _place_geometry(declared)
        if type_name in OUTLINED:  # without arguments, the outline it was listed with
            leaf = _leaf(geometry.type, known_outline)
            assert leaf is not None
            LEAVES.setdefault(object_type, {})["geometry"] = leaf
    carried_relations(schema)
    return schema


def _carried(relation: str, make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def get(ticket: Any) -> Any:
        rows = carried(ticket, relation)
        return rows if rows is NOT_CARRIED else make(rows)  # NOT_CARRIED: the resolver answers

    return get


def carried_relations(schema: strawberry.Schema) -> None:
    """A ticket's relation fields (`TICKET_CARRIED`) answered from the rows it was read with,
    when it carries them; the resolver answers otherwise."""
    ticket = _object_type(schema, "Ticket")
    for name, make in TICKET_CARRIED.items():
        graphql_field, _ = _declared(ticket, name)
        if graphql_field.args:
            raise FastPathError(f"Ticket.{name} takes arguments: its rows may not answer them")
        get = _carried(TICKET_FIELDS[name], make)
        leaf = _leaf(graphql_field.type, get) or Leaf(
            get, isinstance(graphql_field.type, GraphQLNonNull), declared=graphql_field.type,
            listed=True)
        LEAVES.setdefault(ticket, {})[name] = leaf
