"""Prepared queries: a document seen before is answered without the per-request machinery of
Strawberry's view and graphql-core's executor, by the same resolvers.

A query spends most of its CPU around its resolvers, not in them: the view and seven schema
extensions set up and tear down hooks, graphql-core builds a path, a resolve-info object and
a chain of completion calls for every one of the ~100 fields of a `nearbyTickets` answer.
`PreparedQueries` parses, validates and bounds a document once, and compiles its selection
into a `Selection` per object: plain fields read by attribute and coerced as their type
coerces (`schema.fast.LEAVES`); every other field through its declared resolver, called as
Strawberry's wrapper would call it with the arguments graphql-core would pass, converted as
Strawberry converts them (`direct_resolver`), or through the wrapper itself where it does
more (field extensions, permission classes). Each resolver's first step is taken at once and
those that wait are awaited together, depth by depth, so DataLoaders batch as they do under
graphql-core.

It leans on internals of graphql-core (checked by `schema.fast`) and of Strawberry
(`STRAWBERRY_VERSION`, checked when the lane is made); tests/schema/test_prepared.py compares
its answers with the full path's and its argument conversion with Strawberry's.

The lane answers only what it answers exactly as the full path would: one query operation
seen before, whose fields are all known to it, whose variables coerce and whose cost is within
budget, and which runs without an error or a null on a non-null field. Anything else
(`Declined`) goes to the full path, which answers it as it always does: errors with their
codes, masks and paths. Queries only, and none reading a logged field (a reporter's name or
phone, schema/personal_data.py): re-running one the lane declined writes nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field
from importlib.metadata import version
from typing import Any

import strawberry
from cachetools import LRUCache
from graphql import (
    ArgumentNode,
    FieldNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    is_leaf_type,
    parse,
    specified_rules,
)
from graphql.execution.values import VariableValues, coerce_argument, get_variable_values
from graphql.pyutils import Path, gather_with_cancel, is_awaitable
from graphql.type.definition import GraphQLLeafType, GraphQLResolveInfoHelpers
from strawberry.relay.types import GlobalID
from strawberry.schema.schema import validate_document
from strawberry.types.arguments import _is_leaf_type, _is_optional_leaf_type
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

from schema.fast import LEAVES, FastPathError, remembered
from schema.limits import CostCache, Limits, validation_rules
from schema.lookahead import names_variable
from schema.nul import holds_nul, nul_in_document
from schema.personal_data import LOGGED_FIELDS
from schema.variables import Unfit, VariablePlan

# The Strawberry release whose resolver wrapper, argument conversion and validation the lane
# was written against (`direct_resolver`, `_converter`, `validate_document`).
STRAWBERRY_VERSION = "0.341.2"
# Documents kept compiled (or known not to compile): the distinct query texts of the clients.
MAX_DOCUMENTS = 256
# Longer documents are not compiled: a client's are a few kilobytes (the map page's longest is
# under 2,000 characters); a long one costs the full path no more than it always did.
MAX_DOCUMENT_CHARS = 20_000


class Declined(Exception):  # noqa: N818 - not an error: the full path answers instead
    """The lane cannot answer this request exactly as the full path would."""


class _NotCompiled(Exception):  # noqa: N818
    """A document with something the lane does not answer."""


Completion = Callable[[Any, "_Run", Path | None], Any]


@dataclass(slots=True)
class _Field:
    key: str
    node: FieldNode
    definition: GraphQLField
    parent: GraphQLObjectType
    complete: Completion
    # A plain field's getter (schema.fast.LEAVES); its resolver answers when the getter cannot.
    get: Callable[[Any], Any] | None
    # A plain scalar or enum field's output coercion (as schema.fast coerces it).
    coerce: Callable[[Any], Any] | None
    non_null: bool
    # The arguments coerced once: literals and defaults; those naming a variable (`dynamic`,
    # None when there are none) are coerced per request over them.
    args: dict[str, Any]
    dynamic: list[tuple[str, GraphQLArgument, ArgumentNode]] | None
    # Whether anything below needs a response path (a field answered by its resolver).
    deep: bool
    # The field's resolver: its declared one called directly where that is what Strawberry's
    # wrapper would do (`direct_resolver`), else the graphql-core resolver the schema has.
    resolve: Callable[..., Any]


@dataclass(slots=True)
class _Selection:
    """The fields one object type answers for one selection set."""

    type: GraphQLObjectType
    deep: bool = False
    # Each field with what `fill` reads of it, unpacked once (7 attribute reads a field of
    # every object answered cost a ticket with its relations 2 % of its CPU).
    plan: list[tuple[_Field, str, Callable[[Any], Any] | None, Callable[[Any], Any] | None,
                     bool, bool, Completion]] = field(default_factory=list)

    @property
    def fields(self) -> list[_Field]:
        return [p[0] for p in self.plan]

    def add(self, f: _Field) -> None:
        self.plan.append((f, f.key, f.get, f.coerce, f.non_null, f.deep, f.complete))

    def fill(self, source: Any, out: dict[str, Any], run: _Run, path: Path | None) -> None:
        name = self.type.name
        for f, key, get, coerce, non_null, deep, complete in self.plan:
            if get is not None:
                try:
                    value = get(source)
                except Exception:  # noqa: BLE001 - the field's resolver answers instead
                    value = _RESOLVE
                cls = value.__class__
                if cls not in _SETTLED:
                    if value is None and not non_null:
                        out[key] = None
                        continue
                    if value is _RESOLVE or value is None or isinstance(value, Exception) \
                            or is_awaitable(value):
                        cls = None  # the field's resolver answers (and reports) it
                    else:
                        _SETTLED.add(cls)
                if cls is not None:
                    if coerce is not None:
                        coerced = coerce(value)
                        if coerced is None:
                            raise Declined  # an error in the full path
                        out[key] = coerced
                    else:
                        out[key] = complete(value, run, Path(path, key, name) if deep else None)
                    continue
            here = Path(path, key, name)
            value = f.resolve(source, run.info(f, here),
                              **(f.args if f.dynamic is None else run.args(f)))
            if is_awaitable(value):
                out[key] = None
                run.later(value, f, out, here)
            else:
                out[key] = complete(value, run, here)


class _Resolve:
    """A plain field's getter failed: its resolver answers."""


_RESOLVE = _Resolve()
# Classes of values seen to be settled (neither awaitable nor an exception: both are
# properties of a class), so that the next value of one needs no further look.
_SETTLED: set[type] = set()


class _Run:
    """One request: its context, variables and the loads still to await."""

    __slots__ = ("context", "operation", "pending", "prepared", "variables")

    def __init__(self, prepared: Prepared, context: Any, variables: VariableValues) -> None:
        self.prepared = prepared
        self.context = context
        self.variables = variables
        self.pending: list[tuple[Awaitable[Any], _Field, dict[str, Any], Path]] = []

    def info(self, f: _Field, path: Path | None) -> GraphQLResolveInfo:
        p = self.prepared
        return GraphQLResolveInfo(f.node.name.value, [f.node], f.definition.type, f.parent,
                                  path, p.schema, {}, None, p.operation,  # type: ignore[arg-type]
                                  self.variables, self.context, is_awaitable, None, _HELPERS)

    def args(self, f: _Field) -> dict[str, Any]:
        values = dict(f.args)
        for name, definition, node in f.dynamic or ():
            values.pop(definition.out_name or name, None)
            coerce_argument(values, f.node, name, definition, node, self.variables, None)
        return values

    def later(self, value: Awaitable[Any], f: _Field, out: dict[str, Any], path: Path) -> None:
        self.pending.append((value, f, out, path))

    def abandon(self) -> None:
        """Drops the loads not awaited (the full path answers instead)."""
        _drop(self.pending)
        self.pending = []

    async def settle(self) -> None:
        """Awaits the loads of each depth together (DataLoaders batch them), completing each
        value where it belongs; completing may start loads of the next depth.

        Each resolver's coroutine takes its first step here: most of a nested answer's
        resolvers read loaders primed with their rows and finish at once, without a task of
        their own (a task, its scheduling and its callbacks cost about as much as the
        resolver). Only those that wait are awaited, together.
        """
        while self.pending:
            batch, self.pending = self.pending, []
            waiting: list[tuple[Any, _Field, dict[str, Any], Path]] = []
            try:
                while batch:
                    value, f, out, path = batch.pop(0)
                    if asyncio.iscoroutine(value):
                        try:
                            step = value.send(None)
                        except StopIteration as done:
                            out[f.key] = f.complete(done.value, self, path)
                            continue
                        value = _Resumed.after(value, step)
                    waiting.append((value, f, out, path))
            except BaseException:
                _drop(batch)
                _drop(waiting)
                raise
            results = await _together([w[0] for w in waiting])
            for (_, f, out, path), result in zip(waiting, results, strict=True):
                if isinstance(result, BaseException):
                    raise Declined from result
                out[f.key] = f.complete(result, self, path)


class _Resumed:
    """A coroutine that took its first step and waits on what it yielded: awaited, it goes on
    as `await coroutine` would have (what it yields goes to the task awaiting this, what is
    thrown in goes to it)."""

    __slots__ = ("blocking", "coroutine", "step")

    def __init__(self, coroutine: Any, step: Any, blocking: bool) -> None:
        self.coroutine = coroutine
        self.step = step
        self.blocking = blocking

    @classmethod
    def after(cls, coroutine: Any, step: Any) -> _Resumed:
        """The coroutine after a first step that yielded `step`. A future it awaits is marked
        as awaited (`_asyncio_future_blocking`) until a task takes it; the mark is taken off
        here and put back when this is awaited, as another coroutine may await the same
        future meanwhile (asyncio refuses a future awaited while marked)."""
        blocking = getattr(step, "_asyncio_future_blocking", False) is True
        if blocking:
            step._asyncio_future_blocking = False
        return cls(coroutine, step, blocking)

    def __await__(self) -> Any:
        step = self.step
        waits = not (self.blocking and step.done())  # a future done meanwhile: nothing to wait
        if waits and self.blocking:
            step._asyncio_future_blocking = True
        while True:
            if waits:
                try:
                    yield step
                except BaseException as exc:  # noqa: BLE001 - passed on to the coroutine
                    try:
                        step = self.coroutine.throw(exc)
                    except StopIteration as done:
                        return done.value
                    continue
            waits = True
            try:
                step = self.coroutine.send(None)
            except StopIteration as done:
                return done.value

    def close(self) -> None:
        self.coroutine.close()


async def _together(values: list[Awaitable[Any]]) -> list[Any]:
    """The results of the waiting loads, an exception standing for a failed one. A single
    load (a root field's statement) is awaited in the request's own task: gathering it would
    cost a task, its scheduling and a turn of the loop (about 4 % of a small answer's CPU)."""
    if len(values) != 1:
        return await asyncio.gather(*values, return_exceptions=True)
    # Cancelled is the request when its task was asked to stop meanwhile; a load cancelled
    # by someone else (a shared task stopped at shutdown) is a result, as gather gives it.
    task = asyncio.current_task()
    asked = task.cancelling() if task is not None else 0
    try:
        result = await values[0]
    except asyncio.CancelledError as exc:
        if task is None or task.cancelling() > asked:
            raise
        return [exc]
    except Exception as exc:  # noqa: BLE001 - reported as gather reports it
        if task is not None and task.cancelling() > asked:
            raise asyncio.CancelledError from exc  # the load turned the cancellation into this
        return [exc]
    if task is not None and task.cancelling() > asked:
        raise asyncio.CancelledError  # the load took the request's cancellation for its own
    return [result]


def _drop(pending: Sequence[tuple[Any, ...]]) -> None:
    """Closes the coroutines and cancels the futures of loads that will not be awaited."""
    for value, *_ in pending:
        if asyncio.iscoroutine(value) or isinstance(value, _Resumed):
            value.close()
        elif isinstance(value, asyncio.Future):
            value.cancel()


def _track(values: Any) -> None:
    raise Declined  # a resolver that leaves work behind: the full path tracks it


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return await gather_with_cancel(*values)


_HELPERS = GraphQLResolveInfoHelpers(_gather, _track)


def _non_null(inner: Completion) -> Completion:
    def complete(value: Any, run: _Run, path: Path | None) -> Any:
        if value is None:
            raise Declined  # an error in the full path
        return inner(value, run, path)
    complete.deep = getattr(inner, "deep", False)  # type: ignore[attr-defined]
    return complete


def _listed(item: Completion) -> Completion:
    deep = getattr(item, "deep", False)

    def complete(value: Any, run: _Run, path: Path | None) -> Any:
        if value is None:
            return None
        if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
            raise Declined
        if deep:
            return [item(v, run, Path(path, i, None)) for i, v in enumerate(value)]
        return [item(v, run, None) for v in value]
    complete.deep = deep  # type: ignore[attr-defined]
    return complete


def _leaf(leaf_type: GraphQLLeafType) -> Completion:
    coerce = leaf_type.coerce_output_value
    if isinstance(leaf_type, GraphQLEnumType):
        coerce = remembered(coerce)

    def complete(value: Any, run: _Run, path: Path | None) -> Any:
        if value is None:
            return None
        coerced = coerce(value)
        if coerced is None:
            raise Declined
        return coerced
    return complete


def _object(selection: _Selection) -> Completion:
    def complete(value: Any, run: _Run, path: Path | None) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise Declined
        out: dict[str, Any] = {}
        selection.fill(value, out, run, path)
        return out
    complete.deep = selection.deep  # type: ignore[attr-defined]
    return complete


def _arguments(definition: GraphQLField, node: FieldNode) -> tuple[
        dict[str, Any], list[tuple[str, GraphQLArgument, ArgumentNode]] | None]:
    """A field's arguments coerced once (literals and defaults), and those naming a variable,
    coerced per request as graphql-core's `get_argument_values` coerces each."""
    given = {a.name.value: a for a in node.arguments or ()}
    dynamic = [(name, definition.args[name], a) for name, a in given.items()
               if names_variable([a])]
    static: dict[str, Any] = {}
    for name, argument in definition.args.items():
        if not any(name == d[0] for d in dynamic):
            coerce_argument(static, node, name, argument, given.get(name), None, None)
    return static, dynamic or None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed, validated query operation with its root selection compiled."""

    schema: GraphQLSchema
    query: str
    operation: OperationDefinitionNode
    root: _Selection
    root_fields: frozenset[str]
    # How its variables are coerced (None: by graphql-core each time).
    variables: VariablePlan | None = None

    @property
    def name(self) -> str | None:
        return self.operation.name.value if self.operation.name else None


Convert = Callable[[Any], Any]


def _converter(type_: Any, registry: Mapping[object, Any], config: Any) -> Convert | None:
    """The conversion of a coerced GraphQL input value of `type_` into its Python value, as
    Strawberry's `convert_argument` converts it, decided once; None for a type it does not
    cover (Maybe, GlobalID, lazy types, inputs that build themselves)."""
    if isinstance(type_, StrawberryMaybe):
        return None
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, registry, config)
    if isinstance(type_, StrawberryList):
        if _is_leaf_type(type_.of_type, registry, skip_classes=(GlobalID,)) or \
                _is_optional_leaf_type(type_.of_type, registry, skip_classes=(GlobalID,)):
            return _settled(list)  # a copy: graphql-core shares its defaults between requests
        item = _converter(type_.of_type, registry, config)
        return None if item is None else _settled(lambda value: [item(v) for v in value])
    if isinstance(type_, LazyType) or type_ is GlobalID:
        return None
    if _is_leaf_type(type_, registry):
        return _settled(lambda value: value)
    if has_enum_definition(type_):
        return _converter(type_.__strawberry_definition__, registry, config)
    if not has_object_definition(type_):
        return None
    definition = type_.__strawberry_definition__
    if definition.from_input is not None:
        return None
    fields = []
    for f in definition.fields:
        convert = _converter(f.resolve_type(type_definition=definition), registry, config)
        if convert is None:
            return None
        fields.append((config.name_converter.from_field(f), f.python_name, convert))
    unset = {f.python_name: None for f in definition.fields if definition.is_input
             and f.default_value is MISSING and f.default_factory is MISSING}

    def build(value: Mapping[str, Any]) -> Any:
        kwargs = dict(unset)
        for name, python_name, convert in fields:
            if name in value:
                kwargs[python_name] = convert(value[name])
        return type_(**kwargs)
    return _settled(build)


def _settled(convert: Convert) -> Convert:
    """`convert`, with Strawberry's answers for null and unset first."""
    def settled(value: Any) -> Any:
        if value is None or value is UNSET:
            return value
        return convert(value)
    return settled


def argument_converter(schema: strawberry.Schema, field: StrawberryField) -> Callable[
        [Mapping[str, Any]], dict[str, Any]] | None:
    """A field's coerced GraphQL arguments converted as Strawberry's `convert_arguments`
    converts them (by Python name), decided once; None where a type is not covered."""
    config, registry = schema.config, schema.schema_converter.scalar_registry
    arguments = []
    for argument in field.arguments:
        convert = _converter(argument.type, registry, config)
        if convert is None or argument.python_name is None:
            return None
        arguments.append((config.name_converter.from_argument(argument), argument.python_name,
                          convert))

    def converted(args: Mapping[str, Any]) -> dict[str, Any]:
        return {python_name: convert(args[name])
                for name, python_name, convert in arguments if name in args}
    return converted


def direct_resolver(schema: strawberry.Schema, graphql_field: GraphQLField) -> Callable[
        ..., Any] | None:
    """A graphql-core resolver calling a Strawberry field's declared resolver as Strawberry's
    own wrapper calls it (arguments converted, `self`, `root`, `parent` and `info` given),
    with the conversion decided once; None where the wrapper does more (field extensions or
    permission classes, exception handlers, argument types it converts by itself)."""
    field = (graphql_field.extensions or {}).get("strawberry-definition")
    if not isinstance(field, StrawberryField) or field.base_resolver is None \
            or field.extensions or field.permission_classes \
            or schema.schema_converter._get_field_exception_handlers(field):  # noqa: SLF001
        return None
    converted = argument_converter(schema, field)
    if converted is None:
        return None
    resolver = field.base_resolver
    with_self = resolver.self_parameter is not None
    given = [p.name for p in (resolver.parent_parameter, resolver.root_parameter) if p]
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    info_class = schema.config.info_class

    def resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        kwargs = converted(args)
        for name in given:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=field)
        return resolver(source, **kwargs) if with_self else resolver(**kwargs)
    return resolve


class _Compiler:
    def __init__(self, schema: strawberry.Schema) -> None:
        self.strawberry = schema
        self.schema = schema._schema
        # Each field's direct resolver, decided once (None: its graphql-core resolver).
        self.direct: dict[int, Callable[..., Any] | None] = {}

    def resolver(self, definition: GraphQLField) -> Callable[..., Any]:
        key = id(definition)
        if key not in self.direct:
            self.direct[key] = direct_resolver(self.strawberry, definition)
        found = self.direct[key]
        assert definition.resolve is not None
        return found if found is not None else definition.resolve

    def selection(self, object_type: GraphQLObjectType, nodes: list[FieldNode]) -> _Selection:
        selection = _Selection(object_type)
        for node in nodes:
            if node.selection_set is None:
                raise _NotCompiled
            for child in node.selection_set.selections:
                self.add(selection, child)
        return selection

    def add(self, selection: _Selection, node: Any) -> None:
        if not isinstance(node, FieldNode) or node.directives:
            raise _NotCompiled  # fragments, @include / @skip: the full path
        key = node.alias.value if node.alias else node.name.value
        if any(f.key == key for f in selection.fields):
            raise _NotCompiled  # fields merged under one key
        name = node.name.value
        parent = selection.type
        if name == "__typename":
            definition = GraphQLField(GraphQLNonNull(GraphQLString),
                                      resolve=lambda *_: parent.name)
        elif name.startswith("__") or name not in parent.fields \
                or (parent.name, name) in LOGGED_FIELDS:
            raise _NotCompiled  # a logged read must not be logged again if the lane declines
        else:
            definition = parent.fields[name]
        if definition.resolve is None or definition.subscribe is not None:
            raise _NotCompiled
        leaf = LEAVES.get(parent, {}).get(name)
        plain = leaf is not None and not node.arguments
        get = leaf.get if plain and leaf is not None else None
        coerce = leaf.coerce if plain and leaf is not None else None
        if name == "__typename":
            get = lambda _: parent.name  # noqa: E731
        complete = self.completion(definition.type, [node])
        args, dynamic = _arguments(definition, node)
        deep = getattr(complete, "deep", False)
        selection.add(_Field(key, node, definition, parent, complete, get, coerce,
                             isinstance(definition.type, GraphQLNonNull), args, dynamic, deep,
                             definition.resolve if name == "__typename"
                             else self.resolver(definition)))
        selection.deep = selection.deep or deep or get is None

    def completion(self, output: GraphQLOutputType, nodes: list[FieldNode]) -> Completion:
        if isinstance(output, GraphQLNonNull):
            return _non_null(self.completion(output.of_type, nodes))
        if isinstance(output, GraphQLList):
            return _listed(self.completion(output.of_type, nodes))
        if is_leaf_type(output):
            if any(n.selection_set for n in nodes):
                raise _NotCompiled
            return _leaf(output)  # type: ignore[arg-type]
        if isinstance(output, GraphQLObjectType) and output.is_type_of is None:
            return _object(self.selection(output, nodes))
        raise _NotCompiled  # interfaces and unions: the full path resolves their types


class PreparedQueries:
    """Compiled query documents by text; `answer` runs one or declines it.

    Args:
        schema: the Strawberry schema the full path runs (with `schema.fast` installed).
        limits: the same bounds the full path enforces; None bounds nothing.
        production: refuse introspection, as the full path does.
    """

    def __init__(self, schema: strawberry.Schema, limits: Limits | None, *,
                 production: bool) -> None:
        found = version("strawberry-graphql")
        if found != STRAWBERRY_VERSION:
            raise FastPathError(
                f"schema.prepared was written for strawberry-graphql {STRAWBERRY_VERSION}, found "
                f"{found}: check direct_resolver and _converter against Strawberry's resolver "
                "wrapper and convert_argument, run tests/schema/test_prepared.py, then update "
                "STRAWBERRY_VERSION")
        self.schema = schema._schema
        self.limits = limits
        self.rules = (*specified_rules, *validation_rules(limits, production=production))
        self.costs = CostCache()
        self._compiler = _Compiler(schema)
        self._known: LRUCache[tuple[str, str | None], Prepared | None] = LRUCache(
            MAX_DOCUMENTS)
        self._seen: LRUCache[tuple[str, str | None], None] = LRUCache(MAX_DOCUMENTS)
        # Any resolve hook of a schema extension wraps resolvers as middleware: then the
        # lane would skip it, so it stays off.
        self.enabled = not _has_middleware(schema)
        self.answered = 0  # requests answered here (the rest went to the full path)

    def prepare(self, query: str, operation_name: str | None) -> Prepared | None:
        """The compiled operation of a query text, or None where the full path must answer:
        a document seen for the first time (a client that writes its values into the text
        would otherwise pay for compiling every request), or longer than MAX_DOCUMENT_CHARS,
        or one the lane does not take."""
        if len(query) > MAX_DOCUMENT_CHARS:
            return None
        key = (query, operation_name)
        try:
            return self._known[key]
        except KeyError:
            pass
        if key not in self._seen:
            self._seen[key] = None
            return None
        try:
            prepared = self._compile(query, operation_name)
        except Exception:  # noqa: BLE001 - whatever it is, the full path reports it
            prepared = None
        self._known[key] = prepared
        return prepared

    def _compile(self, query: str, operation_name: str | None) -> Prepared | None:
        try:
            document = parse(query, max_tokens=self.limits.max_tokens if self.limits else None)
        except GraphQLError:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(document.definitions) != 1 or len(operations) != 1:
            return None  # several operations, or fragments
        operation = operations[0]
        if operation.operation is not OperationType.QUERY or operation.directives or (
                operation_name is not None and (operation.name is None
                                                or operation.name.value != operation_name)):
            return None
        if nul_in_document(query, document) is not None or validate_document(
                self.schema, document, self.rules):
            return None
        root = self.schema.query_type
        assert root is not None
        try:
            selection = self._compiler.selection(root, [_Root(operation)])  # type: ignore[list-item]
        except _NotCompiled:
            return None
        fields = frozenset(f.node.name.value for f in selection.fields)
        return Prepared(self.schema, query, operation, selection, fields,
                        VariablePlan.of(self.schema, operation.variable_definitions or ()))

    async def answer(self, prepared: Prepared, context: Any,
                     variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """The answer (`data`, and `extensions` with the notices, if any) of a prepared
        operation; Declined where the full path must answer."""
        run: _Run | None = None
        try:
            raw = dict(variables or {})
            if holds_nul(raw) or (self.limits is not None and self.costs.cost(
                    self.schema, prepared.query, prepared.operation, (prepared.operation,),
                    prepared.name, raw) > self.limits.max_cost):
                raise Declined
            coerced = _variable_values(prepared, raw)
            run = _Run(prepared, context, coerced)
            data: dict[str, Any] = {}
            prepared.root.fill(None, data, run, None)
            await run.settle()
        except BaseException as exc:
            if run is not None:
                run.abandon()
            if isinstance(exc, Exception) and not isinstance(exc, Declined):
                raise Declined from exc
            raise
        self.answered += 1
        # What schema.notices.Notices adds on the full path.
        notices = getattr(context, "notices", None)
        return {"data": data, "extensions": {"notices": list(notices)}} if notices \
            else {"data": data}


def _variable_values(prepared: Prepared, raw: dict[str, Any]) -> VariableValues:
    """The coerced variables of a request: by the document's plan where it can, else by
    graphql-core; Declined where they hold an error (the full path reports it)."""
    if prepared.variables is not None:
        try:
            return prepared.variables.coerce(raw)
        except Unfit:
            pass
    coerced = get_variable_values(prepared.schema,
                                  prepared.operation.variable_definitions or (), raw,
                                  max_errors=50)
    if not isinstance(coerced, VariableValues):
        raise Declined
    return coerced


@dataclass(frozen=True)
class _Root:
    """An operation seen as the field node its root selection hangs from."""

    operation: OperationDefinitionNode

    @property
    def selection_set(self) -> Any:
        return self.operation.selection_set


def _has_middleware(schema: strawberry.Schema) -> bool:
    """Whether a schema extension has a resolve hook (Strawberry runs those as graphql-core
    middleware around every resolver, which the lane would skip), or the schema has directives
    (Strawberry applies those as an extension too)."""
    return bool(schema.directives) or any(
        e._implements_resolve() for e in schema.get_extensions())  # noqa: SLF001
