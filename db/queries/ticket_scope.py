"""A caller's view of tickets, applied in SQL: which rows a scope lets through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def in_scopes(*columns: str) -> str:
    """A SQL condition: one of `columns` (place codes) lies inside the `%(scopes)s` codes (a code
    covers every code it prefixes); NULL scopes let every row through."""
    covered = " OR ".join(f"starts_with({c}, s.code)" for c in columns)
    return ("(%(scopes)s::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest(%(scopes)s::text[]) "
            f"AS s(code) WHERE {covered}))")


@dataclass(frozen=True)
class TicketScope:
    """Tickets visible to a caller; `None` fields do not restrict. An all-None scope sees all."""

    cell_prefixes: tuple[str, ...] | None = None
    compound_prefixes: tuple[str, ...] | None = None
    units: tuple[str, ...] | None = None
    reporter: str | None = None

    def clause(self, table: str = "tickets") -> tuple[str, dict[str, Any]]:
        """A SQL condition on `table` and its parameters."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if self.cell_prefixes is not None:
            parts.append(f"{table}.cell_code LIKE ANY(%(scope_cells)s)")
            params["scope_cells"] = [p + "%" for p in self.cell_prefixes]
        if self.compound_prefixes is not None:
            parts.append(f"{table}.compound_code LIKE ANY(%(scope_compounds)s)")
            params["scope_compounds"] = [p + "%" for p in self.compound_prefixes]
        if self.units is not None:
            parts.append(f"EXISTS (SELECT 1 FROM ticket_units su WHERE su.ticket_id = {table}.id "
                         "AND su.unit_code = ANY(%(scope_units)s))")
            params["scope_units"] = list(self.units)
        if self.reporter is not None:
            parts.append(f"{table}.reporter_subject = %(scope_reporter)s")
            params["scope_reporter"] = self.reporter
        return (" AND ".join(parts) or "TRUE"), params


EVERYTHING = TicketScope()
