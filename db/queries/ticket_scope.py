"""A caller's view of tickets, applied in SQL: which rows a scope lets through."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from psycopg import sql


def in_scopes(*columns: str) -> str:
    """A SQL condition: one of `columns` (place codes) lies inside the `%(scopes)s` codes (a code
    covers every code it prefixes); NULL scopes let every row through."""
    covered = sql.SQL(" OR ").join(sql.SQL("starts_with({}, s.code)").format(
        sql.Identifier(*c.split("."))) for c in columns)
    return sql.SQL("(%(scopes)s::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest(%(scopes)s::text[]) "
                   "AS s(code) WHERE {}))").format(covered).as_string()


@dataclass(frozen=True)
class TicketScope:
    """Tickets visible to a caller; `None` fields do not restrict. An all-None scope sees all."""

    cell_prefixes: tuple[str, ...] | None = None
    compound_prefixes: tuple[str, ...] | None = None
    units: tuple[str, ...] | None = None
    reporter: str | None = None

    def clause(self, table: str = "tickets") -> tuple[str, dict[str, Any]]:
        """A SQL condition on `table` and its parameters."""
        params: dict[str, Any] = {}
        if self.cell_prefixes is not None:
            params["scope_cells"] = [p + "%" for p in self.cell_prefixes]
        if self.compound_prefixes is not None:
            params["scope_compounds"] = [p + "%" for p in self.compound_prefixes]
        if self.units is not None:
            params["scope_units"] = list(self.units)
        if self.reporter is not None:
            params["scope_reporter"] = self.reporter
        return _condition(table, tuple(params)), params


_CONDITIONS = {
    "scope_cells": sql.SQL("{}.cell_code LIKE ANY(%(scope_cells)s)"),
    "scope_compounds": sql.SQL("{}.compound_code LIKE ANY(%(scope_compounds)s)"),
    "scope_units": sql.SQL("EXISTS (SELECT 1 FROM ticket_units su WHERE su.ticket_id = {}.id "
                           "AND su.unit_code = ANY(%(scope_units)s))"),
    "scope_reporter": sql.SQL("{}.reporter_subject = %(scope_reporter)s"),
}


@functools.lru_cache(maxsize=64)
def _condition(table: str, restricting: tuple[str, ...]) -> str:
    """The condition on `table` of a scope restricting by those parameters, composed once
    per shape (a handful per table) rather than on every request."""
    parts = [_CONDITIONS[p].format(sql.Identifier(table)) for p in restricting]
    return sql.SQL(" AND ").join(parts).as_string() if parts else "TRUE"


EVERYTHING = TicketScope()
