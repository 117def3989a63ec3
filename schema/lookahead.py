"""Looking ahead at a field's selection to load what it leads to in the same statement.

`ticket` and `locate` answer with an object whose nested fields (a ticket's grid cell,
compound, community, unit and events; a point's places and nearest facilities) each load
through a DataLoader: one statement each. Their resolvers read the selection first and ask for
the selected relations in the base row's statement (db/queries/joined.py). A ticket carries
the rows (`Ticket.related`), which its relation fields answer from; `locate` primes the
loaders with them, so the nested fields, which keep their own resolvers and checks, find their
rows loaded. A relation looked ahead but not resolved (under a skipped directive, say) costs a
join, never a wrong answer: the rows are the ones the loader would have read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from graphql import Visitor, visit
from strawberry.dataloader import DataLoader
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from resolvers.tickets import Joined

# Selections already read, by the identity of their field nodes (kept, so that an identity is
# never another node's): a document's selection is the same on every request unless it names
# a variable. Converting it into Strawberry's SelectedField objects cost more than the SQL
# of a `ticket` with its relations.
_KNOWN: dict[tuple[int, ...], tuple[tuple[Any, ...], dict[str, list[SelectedField]] | None]] = {}
MAX_KNOWN = 512


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_variable(self, *_: Any) -> Any:
        self.found = True
        return self.BREAK


def names_variable(nodes: Iterable[Any]) -> bool:
    """Whether any of these document nodes names a variable anywhere within."""
    finder = _Variables()
    for node in nodes:
        visit(node, finder)
        if finder.found:
            return True
    return False


def _names_variable(nodes: Iterable[Any], fragments: Mapping[str, Any]) -> bool:
    return names_variable(node.selection_set for node in (*nodes, *fragments.values())
                          if node.selection_set is not None)


def selected(info: Info) -> dict[str, list[SelectedField]]:
    """The fields selected on the answer of the field being resolved, by name, through
    fragments; a name selected under several aliases lists each. Read once per document when
    the selection names no variable."""
    raw = info._raw_info  # noqa: SLF001
    nodes = tuple(raw.field_nodes)
    key = tuple(map(id, nodes))
    known = _KNOWN.get(key)
    if known is not None and all(a is b for a, b in zip(known[0], nodes, strict=True)):
        if known[1] is not None:
            return known[1]
        return _selected(info)
    found = _selected(info)
    if len(_KNOWN) >= MAX_KNOWN:
        _KNOWN.clear()
    _KNOWN[key] = (nodes, None if _names_variable(nodes, raw.fragments) else found)
    return found


def _selected(info: Info) -> dict[str, list[SelectedField]]:
    found: dict[str, list[SelectedField]] = defaultdict(list)
    for field in _fields(f for top in info.selected_fields for f in top.selections):
        found[field.name].append(field)
    return dict(found)


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of selections, those of fragments among them included."""
    for s in selections:
        if isinstance(s, SelectedField):
            yield s
        else:
            yield from _fields(s.selections)


def names_under(fields: Iterable[SelectedField]) -> frozenset[str]:
    """The names of the fields selected under these fields, through fragments."""
    return frozenset(f.name for f in _fields(s for field in fields for s in field.selections))


def wanted(fields: Mapping[str, Any], relation_of: Mapping[str, str]) -> list[str]:
    """The relations (values of `relation_of`, by GraphQL field name) the selection asks for."""
    return [relation for name, relation in relation_of.items() if name in fields]


def prime(found: Joined, loaders: Any) -> None:
    """Primes the loaders (`Loaders`, whose loader of each relation bears its name) with the
    rows found, under each relation's key in the base row; without a key, nothing to prime."""
    for relation, key in found.keys.items():
        if key is not None:
            loader: DataLoader[Any, Any] = getattr(loaders, relation)
            loader.prime(key, found.related[relation])
