"""Limits on what one GraphQL document may ask: depth, aliases, tokens, cost, introspection.

Depth, aliases and introspection are validation rules built once per schema, so the
validation cache keeps hitting; tokens are a parser option; cost depends on the variables,
so it is checked after validation on every request (the validation cache ignores variables).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import (
    ArgumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    value_from_ast,
    value_from_ast_untyped,
    visit,
)
from graphql.utilities import get_operation_ast
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

# Strawberry and graphql-core label these errors only by message; the stable codes we give.
MESSAGE_CODES: tuple[tuple[str, str], ...] = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found. Allowed:", "TOO_MANY_ALIASES"),
    ("Document contains more than", "TOO_MANY_TOKENS"),
    ("GraphQL introspection has been disabled", "INTROSPECTION_DISABLED"),
)

# `first` caps of the paged fields, as the resolvers enforce them.
FIRST_CAPS: Mapping[str, int] = {
    "Query.nearbyTickets": 200,
    "Query.tickets": 200,
    "Query.volunteers": 200,
    "Query.volunteerYearRecords": 200,
    "Query.unitNotifications": 200,
    "Location.nearestFacilities": 200,
    "Query.marketFairs": 500,
}
# Realistic upper sizes of lists without `first` (the demo county: 5 zones, 43 communities,
# 230 compounds, 429 grid cells, 211 facilities; at most 6 compounds and 15 grid cells in a
# community); a connection's edges are paged by its parent's `first`.
LIST_SIZES: Mapping[str, int] = {
    "Query.zones": 20,
    "Query.communities": 100,
    "Query.compounds": 500,
    "Query.gridCells": 500,
    "Query.facilities": 500,
    "Community.compounds": 20,
    "Community.gridCells": 30,
    "Heatmap.cells": 500,
    "Compound.buildings": 30,
    "Zone.staff": 10,
    "Query.socialOrganisations": 120,
    "SocialOrganisation.communities": 10,
    "MarketFair.communities": 6,
    "ServiceRoomLedger.rooms": 100,
    "ServiceRoomLedger.totals": 50,
    "Query.cadres": 450,
    "Query.cadreRules": 30,
    "CadreCompliance.missingCheck": 450,
    "CadreCompliance.failedCheck": 450,
    "CadreCompliance.deductions": 100,
    "CadreCompliance.suspensions": 20,
    "Query.cadreTrainings": 20,
    "CadreTraining.cadres": 60,
    "Query.communityAssessment": 50,
    "Query.demandItems": 50,
    "Query.summonsRecords": 200,
    "OwnersCommittee.members": 16,
    "OwnersCommitteeCompliance.compoundsWithoutCommittee": 500,
    "OwnersCommitteeCompliance.committeesBelowPartyShare": 500,
    "OwnersCommitteeCompliance.membersOnNegativeList": 100,
    "VolunteerYearRecordConnection.records": 1,  # paged by the parent's `first`
}
# Fields dearer than their selections show: a whole layer is one GeoJSON value built from up to
# ~10,000 features (the demo's tickets), so 20 of them exhaust the default budget.
FIELD_COSTS: Mapping[str, int] = {"Query.layer": 2_500}
CONNECTION_EDGES = "Connection.edges"  # paged by the parent's `first`: one each
DEFAULT_FIRST_CAP = 200
DEFAULT_LIST_SIZE = 20


@dataclass(frozen=True)
class Limits:
    """How much one document may ask for; the server's come from its settings
    (`REDGRID_MAX_QUERY_*`, defaults in web/settings.py), written nowhere else."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_cost: int


def code_for_message(message: str) -> str | None:
    return next((code for text, code in MESSAGE_CODES if text in message), None)


def limit_extensions(limits: Limits | None, *, production: bool) -> list[Any]:
    """Schema extension factories enforcing `limits` (none: no bound on a document) and no
    introspection in production."""
    rules = validation_rules(limits, production=production)
    if limits is None:
        return [lambda: AddValidationRules(rules)]
    costs = CostCache()
    return [lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: AddValidationRules(rules),
            lambda: CostLimit(limits.max_cost, costs)]


def validation_rules(limits: Limits | None, *,
                     production: bool) -> list[type[ASTValidationRule]]:
    """The validation rules beyond the specification's that bound a document: its depth and
    aliases, and no introspection in production."""
    rules: list[type[ASTValidationRule]] = [] if limits is None else [
        depth_validator(limits.max_depth, None), aliases_validator(limits.max_aliases)]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


class CostCache:
    """Costs of operations already seen. A cost depends on the document and on the values of
    the variables given to `first` arguments only, so those make the key; a phone asking the
    same query for other points costs one dictionary lookup."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._firsts: LRUCache[tuple[str, str | None], tuple[str, ...]] = LRUCache(max_entries)
        self._costs: LRUCache[tuple[Any, ...], int] = LRUCache(max_entries)

    def cost(self, schema: Any, query: str, operation: OperationDefinitionNode,
             definitions: Any, operation_name: str | None, variables: Mapping[str, Any]) -> int:
        names = self._firsts.get((query, operation_name))
        if names is None:
            names = tuple(sorted(_first_variables(operation, definitions)))
            self._firsts[(query, operation_name)] = names
        values = tuple(variables.get(name) for name in names)
        try:
            key = (query, operation_name, values)
            hash(key)
        except TypeError:  # a list or object where `first` wants an Int: not worth keeping
            return operation_cost(schema, operation, definitions, variables)
        found = self._costs.get(key)
        if found is None:
            found = operation_cost(schema, operation, definitions, variables)
            self._costs[key] = found
        return found


def _first_variables(operation: OperationDefinitionNode, definitions: Any) -> set[str]:
    """Names of the variables given to a `first` argument anywhere in the operation."""
    found: set[str] = set()

    class Firsts(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.name.value == "first" and isinstance(node.value, VariableNode):
                found.add(node.value.name.value)

    visit(operation, Firsts())
    for definition in definitions:
        if isinstance(definition, FragmentDefinitionNode):
            visit(definition, Firsts())
    return found


class CostLimit(SchemaExtension):
    """Refuses operations whose estimated cost exceeds a budget.

    Each field costs 1; a list field multiplies the cost of what it selects by its `first`
    (capped as the resolver caps it) or by the list's realistic size. Must run after the
    validation cache, so that the document is known to be valid.
    """

    def __init__(self, budget: int, costs: CostCache | None = None) -> None:
        self.budget = budget
        self.costs = costs or CostCache()

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors == [] and context.graphql_document is not None:
            operation = get_operation_ast(context.graphql_document, context.operation_name)
            if operation is not None:
                cost = self.costs.cost(context.schema._schema, context.query or "", operation,
                                       context.graphql_document.definitions,
                                       context.operation_name, context.variables or {})
                if cost > self.budget:
                    context.pre_execution_errors = [GraphQLError(
                        f"Query cost {cost} exceeds the budget of {self.budget}.",
                        nodes=[operation], extensions={"code": "QUERY_TOO_COSTLY"})]
        yield


def operation_cost(schema: Any, operation: OperationDefinitionNode, definitions: Any,
                   variables: Mapping[str, Any]) -> int:
    """The estimated cost of a valid operation with these variables."""
    root = schema.get_root_type(operation.operation)
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    values = {d.variable.name.value: value_from_ast_untyped(d.default_value)
              for d in operation.variable_definitions or () if d.default_value is not None}
    return _selection_cost(schema, root, operation.selection_set, fragments,
                           {**values, **variables})


def _selection_cost(schema: Any, parent: GraphQLNamedType | None,
                    selection_set: SelectionSetNode | None,
                    fragments: Mapping[str, FragmentDefinitionNode],
                    variables: Mapping[str, Any]) -> int:
    if selection_set is None or parent is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, parent, selection, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            inner = (schema.get_type(selection.type_condition.name.value)
                     if selection.type_condition else parent)
            total += _selection_cost(schema, inner, selection.selection_set, fragments,
                                     variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                total += _selection_cost(schema, schema.get_type(fragment.type_condition.name.value),
                                         fragment.selection_set, fragments, variables)
    return total


def _field_cost(schema: Any, parent: GraphQLNamedType, node: FieldNode,
                fragments: Mapping[str, FragmentDefinitionNode],
                variables: Mapping[str, Any]) -> int:
    fields = getattr(parent, "fields", None)
    field = fields.get(node.name.value) if isinstance(fields, dict) else None
    if field is None:  # __typename and introspection
        return 1
    key = f"{parent.name}.{node.name.value}"
    multiplier = 1
    if "first" in field.args:
        argument = field.args["first"]
        given = next((a.value for a in node.arguments or () if a.name.value == "first"),
                     None)
        value = (Undefined if given is None
                 else value_from_ast(given, argument.type, dict(variables)))
        if value is Undefined:  # absent, or an absent variable: the schema's default
            value = argument.default_value
        cap = FIRST_CAPS.get(key, DEFAULT_FIRST_CAP)
        multiplier = min(value, cap) if isinstance(value, int) and value > 0 else cap
    elif isinstance(get_nullable_type(field.type), GraphQLList):
        multiplier = (1 if key.endswith(CONNECTION_EDGES)
                      else LIST_SIZES.get(key, DEFAULT_LIST_SIZE))
    return FIELD_COSTS.get(key, 1) + multiplier * _selection_cost(schema, get_named_type(field.type),
                                            node.selection_set, fragments, variables)
