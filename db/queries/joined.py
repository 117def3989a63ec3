"""One statement for a row and the rows it leads to: a base row joined laterally with its
related rows, split back into one row per relation.

A nested GraphQL answer (a ticket 工单 with its grid cell, compound, community, unit and events)
took one statement per relation through the DataLoaders: six round trips, each costing more
server CPU than its SQL. Here the base query and each relation's own statement (the same column
lists the loaders use, so the rows are the same) run as one: every relation is a `LEFT JOIN
LATERAL`, and a marker column before each relation's columns tells where its columns begin.
At most one relation may be a list (`many`): the base row then repeats once per list row.
The base row carries its relations' rows as its last field, `related` (`Joined.related`).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql

from db.statements import records

# Marker columns are named `|name`: no column of a RedGrid table starts with `|`.
_MARK = "|"
# The base row's last field: its relations' rows by name (`Joined.related`), so that the row,
# standing in for a GraphQL object, takes them along to its fields.
RELATED = "related"


@dataclass(frozen=True)
class Relation:
    """Rows joined to the base row: `select` is a statement over the base row's columns, which
    it reads as `base.<column>`, with its own named `params`; `many` when it gives a list (at
    most one relation may), in the order of its columns `order`. `key` is the base row's
    column the rows hang from, the key a loader of them would be asked for (None: none)."""

    name: str
    select: str
    key: str | None = None
    many: bool = False
    order: tuple[str, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type:
    return namedtuple("Row", names)  # noqa: PYI024


def joined_sql(base: str, relations: Sequence[Relation]) -> str:
    """The statement: the base rows as `base`, each relation joined laterally after its marker."""
    if sum(r.many for r in relations) > 1:
        raise ValueError("at most one relation may give a list")
    return _joined_sql(base, tuple((r.name, r.select, r.order) for r in relations))


@functools.lru_cache(maxsize=256)
def _joined_sql(base: str, relations: tuple[tuple[str, str, tuple[str, ...]], ...]) -> str:
    """`joined_sql`, composed once per base statement and choice of relations."""
    columns: list[sql.Composable] = [sql.SQL("base.*")]
    joins: list[sql.Composable] = []
    order: list[sql.Composable] = []
    for i, (name, select, by) in enumerate(relations):
        alias = sql.Identifier(f"r{i}")
        columns.append(sql.SQL("NULL AS {}, {}.*").format(sql.Identifier(_MARK + name), alias))
        joins.append(sql.SQL("LEFT JOIN LATERAL ({}) {} ON TRUE").format(sql.SQL(select), alias))
        order += [sql.Identifier(f"r{i}", c) for c in by]
    statement = sql.SQL("SELECT {} FROM ({}) base {}").format(
        sql.SQL(", ").join(columns), sql.SQL(base), sql.SQL(" ").join(joins))
    if order:
        statement += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(order))
    return statement.as_string()


# Where a part's columns start and end, and the row class of its names.
Part = tuple[int, int, type]


@functools.lru_cache(maxsize=512)
def _split(names: tuple[str, ...]) -> tuple[Part, list[tuple[str, Part]]]:
    """Where the base row's columns lie, and each relation's (by name) after its marker;
    worked out once per statement (a ticket with its relations has ~70 columns)."""
    marks = [i for i, name in enumerate(names) if name.startswith(_MARK)] + [len(names)]
    if RELATED in names[:marks[0]]:
        raise ValueError(f"a base statement may not select a column named {RELATED!r}")
    base = (0, marks[0], _row_class((*names[:marks[0]], RELATED)))
    relations = [(names[m][len(_MARK):], (m + 1, end, _row_class(tuple(names[m + 1:end]))))
                 for m, end in zip(marks, marks[1:], strict=False)]
    return base, relations


def _related(record: tuple[Any, ...], part: Part) -> Any:
    """A relation's row of a record, or None where all its columns are null."""
    start, end, row = part
    values = record[start:end]
    return None if values.count(None) == len(values) else row(*values)


@dataclass
class Joined:
    """A base row and its relations' rows: one row or None, or a list for a `many` relation
    (the same dict as the row's `related`); `keys`, each relation's key in the base row
    (Relation.key's value)."""

    row: Any
    related: dict[str, Any]
    keys: dict[str, Any]


async def fetch_joined(conn: AsyncConnection[Any], base: str, params: Mapping[str, Any],
                       relations: Sequence[Relation]) -> list[Joined]:
    """Base rows (in the order of the base statement, which should give one row unless the
    caller groups) with their relations' rows. A related row whose columns are all NULL is
    absent (None, or left out of a list): every related table has a non-null key."""
    many = {r.name for r in relations if r.many}
    every = dict(params)
    for r in relations:
        every.update(r.params)
    names, found_records = await records(conn, joined_sql(base, relations), every)
    if not names:
        return []
    (b0, b1, base_row), parts = _split(names)
    listed = [(name, part) for name, part in parts if name in many]
    found: dict[Any, Joined] = {}
    for record in found_records:
        key = record[b0:b1]
        joined = found.get(key)
        if joined is None:
            related: dict[str, Any] = {name: [] for name in many}
            row = base_row(*key, related)
            joined = found[key] = Joined(row, related, {
                r.name: getattr(row, r.key) for r in relations if r.key is not None})
            for name, part in parts:  # a one-row relation repeats with each listed row
                if name not in many:
                    joined.related[name] = _related(record, part)
        for name, part in listed:
            related = _related(record, part)
            if related is not None:
                joined.related[name].append(related)
    return list(found.values())
