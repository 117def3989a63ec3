"""Writes of `redgrid import`: places replaced by code, open tickets 工单 moved to the cells
that now contain them, and what still refers to a place the import drops. Synchronous psycopg,
all inside the caller's one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from db.vocabulary import OPEN_STATUSES

# Parents before children, so that every foreign key finds its row.
PLACE_TABLES = ("streets", "zones", "communities", "grid_cells", "compounds", "buildings")
PLACE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "streets": ("code", "name", "geom"),
    "zones": ("code", "name", "street_code", "secretary_name", "geom"),
    "communities": ("code", "name", "zone_code", "street_code", "households", "population",
                    "geom"),
    "grid_cells": ("code", "community_code", "households", "geom"),
    "compounds": ("code", "name", "community_code", "households", "population", "elderly",
                  "children", "geom"),
    "buildings": ("code", "compound_code", "cell_code", "floors", "households", "geom"),
}
# The event written on a ticket moved to another cell; the outbox trigger (0007) reacts to
# DISPATCHED, ESCALATED and REOPENED only, so no unit is notified of a re-drawn map.
REASSIGNED = "CELL_REASSIGNED"


def lock_places(conn: psycopg.Connection) -> None:
    """Holds off every other writer of places and tickets until the import commits; readers
    go on seeing the old places."""
    conn.execute(sql.SQL("LOCK TABLE {}, tickets IN SHARE ROW EXCLUSIVE MODE").format(
        sql.SQL(", ").join(sql.Identifier(t) for t in PLACE_TABLES)))


def place_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM streets").fetchone()
    return int(row[0]) if row else 0


def upsert(conn: psycopg.Connection, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Inserts the rows of a place table (geometry as hex EWKB last), replacing the rows of the
    same code."""
    columns = PLACE_COLUMNS[table]
    values = [sql.Placeholder() for _ in columns[:-1]] + [sql.SQL("%s::geometry")]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (code) DO UPDATE SET {}").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(values),
        sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                           for c in columns[1:]))
    with conn.cursor() as cur:
        cur.executemany(query, rows)


@dataclass(frozen=True)
class TicketMove:
    """An open ticket whose places change: from which cell to which (None: outside every
    imported cell)."""

    ticket_id: int
    code: str
    status: str
    old_cell: str
    cell: str | None
    compound: str | None
    community: str | None
    zone: str | None
    street: str | None


# The places of each open ticket among the imported ones, as `locate` assigns them: the
# lowest code on shared edges.
_PLACED = sql.SQL("""
SELECT t.id, t.code, t.status, t.cell_code AS old_cell, n.cell, n.compound, n.community, n.zone,
       n.street, t.compound_code AS old_compound, t.community_code AS old_community,
       t.zone_code AS old_zone, t.street_code AS old_street
FROM tickets t
LEFT JOIN LATERAL (
    SELECT c.code AS cell, c.community_code AS community, m.zone_code AS zone,
           m.street_code AS street,
           (SELECT k.code FROM compounds k
            WHERE k.code = ANY(%(compounds)s) AND ST_Intersects(k.geom, t.geom)
            ORDER BY k.code LIMIT 1) AS compound
    FROM grid_cells c JOIN communities m ON m.code = c.community_code
    WHERE c.code = ANY(%(cells)s) AND ST_Intersects(c.geom, t.geom)
    ORDER BY c.code LIMIT 1) n ON TRUE
WHERE t.status = ANY(%(open)s)
ORDER BY t.code
""")


def open_ticket_moves(conn: psycopg.Connection, cells: Sequence[str],
                      compounds: Sequence[str] | None) -> list[TicketMove]:
    """The open tickets whose cell, compound, community, zone or street the import changes
    (`compounds` None: every compound in the database)."""
    rows = conn.execute(_PLACED, {"cells": list(cells),
                                  "compounds": None if compounds is None else list(compounds),
                                  "open": list(OPEN_STATUSES)}).fetchall()
    return [TicketMove(r[0], r[1], r[2], r[3], *r[4:9]) for r in rows
            if (r[4], r[5], r[6], r[7], r[8]) != (r[3], r[9], r[10], r[11], r[12])]


_MOVE = """
UPDATE tickets SET cell_code = %(cell)s, compound_code = %(compound)s,
       community_code = %(community)s, zone_code = %(zone)s, street_code = %(street)s,
       version = version + 1, updated_at = now()
WHERE id = %(ticket_id)s
"""
_MOVE_EVENT = """
INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
VALUES (%(ticket_id)s, now(), %(action)s, 'import', NULL, NULL, %(note)s)
"""


def move_tickets(conn: psycopg.Connection, moves: Sequence[TicketMove],
                 notes: Sequence[str]) -> None:
    """Moves each ticket to its new places with a new version and an event noting the move."""
    with conn.cursor() as cur:
        cur.executemany(_MOVE, [asdict(m) for m in moves])
        cur.executemany(_MOVE_EVENT, [{"ticket_id": m.ticket_id, "action": REASSIGNED,
                                       "note": note} for m, note in zip(moves, notes, strict=True)])


_REFERENCES = """
SELECT src.relname, a.attname
FROM pg_constraint c
JOIN pg_class src ON src.oid = c.conrelid
JOIN pg_class dst ON dst.oid = c.confrelid
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND dst.relname = %(table)s AND src.relname <> ALL(%(imported)s)
  AND src.relnamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


def dropped_references(conn: psycopg.Connection, table: str, kept: Sequence[str],
                       imported: Sequence[str]) -> list[tuple[str, str, int]]:
    """Each place of `table` the import drops (not in `kept`) that rows of other tables than
    the `imported` place tables still refer to: (code, "table.column", rows)."""
    found: list[tuple[str, str, int]] = []
    refs = conn.execute(_REFERENCES, {"table": table, "imported": list(imported)}).fetchall()
    for src, column in refs:
        query = sql.SQL("SELECT r.{col}, count(*) FROM {src} r JOIN {dst} p ON p.code = r.{col} "
                        "WHERE p.code <> ALL(%(kept)s) GROUP BY 1 ORDER BY 1").format(
            col=sql.Identifier(column), src=sql.Identifier(src), dst=sql.Identifier(table))
        found += [(code, f"{src}.{column}", int(n))
                  for code, n in conn.execute(query, {"kept": list(kept)})]
    return found


def drop_missing(conn: psycopg.Connection, table: str, kept: Sequence[str]) -> int:
    """Deletes the places of `table` the import does not hold; returns how many."""
    cur = conn.execute(sql.SQL("DELETE FROM {} WHERE code <> ALL(%(kept)s)").format(
        sql.Identifier(table)), {"kept": list(kept)})
    return cur.rowcount
