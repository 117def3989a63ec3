"""The map layers that tiles, OGC API Features and GraphQL `layer` serve, as SQL pieces.

One catalogue, so every way out of the service draws the same features with the same
properties and applies the same disclosure rule (`resolvers/disclosure.py`) to tickets 工单:
a caller sees the tickets their scope covers as records (exact point and working fields);
every other ticket is only counted, per 100 m square (EPSG:4549), drawn at the square's
centre with no code, item or date, and a square under `MIN_COUNT` is left out for callers
without exact counts (an empty square and one with 1 or 2 tickets look the same).
No layer ever carries a reporter's name, phone or the free-text description.

Patrol coverage 巡查覆盖 is drawn for one week (`PatrolWeek`) and only over the grid cells the
caller's scope covers: the same numbers as `patrolCoverage`, from the same SQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from db import labels
from db.queries.disclosure import MIN_COUNT, SQUARE_M
from db.queries.patrols import PatrolWeek, coverage_sql
from db.queries.ticket_scope import TicketScope, in_scopes
from db.vocabulary import TIME_ZONE, UTC_OFFSET_ISO


@dataclass(frozen=True)
class TicketView:
    """How one caller sees tickets: `records` lets rows through as records (None: none at
    all); the rest are counted per square, exactly when `exact_counts`."""

    records: TicketScope | None = None
    exact_counts: bool = False


PUBLIC_VIEW = TicketView()


@dataclass(frozen=True)
class Layer:
    """A drawable layer: one table, its key, its properties and its geometry, all in SQL.

    `properties` maps a property name to a SQL expression over the table alias `f`;
    `geom` is a SQL expression in EPSG:4326. `order` keeps pages stable. `source`, when
    given, is a SELECT drawn in place of the table for one week of patrols (`PatrolWeek`).
    """

    name: str
    title: str
    title_zh: str
    table: str
    key: str
    geometry_type: str
    properties: tuple[tuple[str, str], ...]
    geom: str = "f.geom"
    order: str = "f.code"
    min_zoom: int = 0
    source: str | None = None

    @property
    def is_tickets(self) -> bool:
        return self.table == "tickets"

    @property
    def weekly(self) -> bool:
        """Drawn for one week and the caller's scope (`PatrolWeek`)."""
        return self.source is not None

    @property
    def per_caller(self) -> bool:
        """Whether what is drawn depends on who asks (never cached as public)."""
        return self.is_tickets or self.weekly

    def select_list(self) -> str:
        """`key AS id, <properties>` for a SELECT over `FROM <table> f`."""
        columns = [f"{self.key} AS id"]
        columns += [f"{expr} AS {name}" for name, expr in self.properties]
        return ", ".join(columns)

    def from_clause(self, view: TicketView = PUBLIC_VIEW, where: str = "TRUE",
                    params: dict[str, Any] | None = None,
                    week: PatrolWeek | None = None,
                    cells: str = "TRUE") -> tuple[str, dict[str, Any]]:
        """`FROM ... f` with the disclosure rule applied to ticket rows. `where` is a condition
        on the tickets' own columns (alias `t`: index filters, status, period), applied
        before tickets are counted into squares, so every square drawn is complete as long
        as `where` keeps everything within `SQUARE_M` of what is drawn. A weekly layer
        needs its `week`, and counts it only for the grid cells (alias `g`) meeting `cells`."""
        params = dict(params or {})
        if self.source is not None:
            if week is None:
                raise ValueError(f"the {self.name} layer is drawn for a week")
            return (f"FROM ({self.source.replace(CELLS, cells)}) f",
                    {**params, **week.params()})
        if not self.is_tickets:
            return _from_table(self.table), params
        precise, scope_params = ("FALSE", {}) if view.records is None else view.records.clause("t")
        params.update(scope_params)
        exact = "TRUE" if view.exact_counts else "FALSE"
        return (f"FROM ({_RECORDS.format(precise=precise, where=where)} UNION ALL "
                f"{_SQUARES.format(precise=precise, where=where, exact=exact)}) f"), params


@functools.cache
def _from_table(table: str) -> str:
    """`FROM <table> f`, composed once per layer table."""
    return sql.SQL("FROM {} f").format(sql.Identifier(table)).as_string()


def iso_local(column: str) -> str:
    """SQL for a timestamptz as ISO 8601 in the county's time zone with its offset
    (2024-06-30T18:00:00+08:00): outputs always carry one, and GDAL reads it as a DateTime
    (the zone keeps one offset all year)."""
    return (f"to_char({column} AT TIME ZONE '{TIME_ZONE}', "
            f"'YYYY-MM-DD\"T\"HH24:MI:SS\"{UTC_OFFSET_ISO}\"')")


# Tickets the caller sees as records. `sort_key` keeps pages stable: ids for records,
# negative numbers for squares.
_RECORDS = """SELECT t.code AS id, t.id AS sort_key, t.code, t.item_code, t.status, t.channel,
  t.cell_code, t.community_code,
  (t.created_at AT TIME ZONE '""" + TIME_ZONE + """')::date::text AS created_on, TRUE AS precise,
  t.level, t.unit_code, t.compound_code, """ + iso_local("t.created_at") + """ AS created_at,
  """ + iso_local("t.due_at") + """ AS due_at, 1 AS count, t.geom, t.geom_metric
FROM tickets t WHERE ({precise}) AND {where}"""
_SQUARES = f"""SELECT 'square-' || q.ix || '-' || q.iy AS id, -(q.ix * 1000000 + q.iy) AS sort_key,
  NULL::text AS code, NULL::text AS item_code, NULL::text AS status, NULL::text AS channel,
  NULL::text AS cell_code, NULL::text AS community_code, NULL::text AS created_on,
  FALSE AS precise, NULL::text AS level, NULL::text AS unit_code, NULL::text AS compound_code,
  NULL::text AS created_at, NULL::text AS due_at, q.n AS count,
  ST_Transform(ST_SetSRID(ST_MakePoint((q.ix + 0.5) * {SQUARE_M}, (q.iy + 0.5) * {SQUARE_M}),
                          4549), 4326) AS geom,
  ST_SetSRID(ST_MakePoint((q.ix + 0.5) * {SQUARE_M}, (q.iy + 0.5) * {SQUARE_M}), 4549)
    AS geom_metric
FROM (SELECT floor(ST_X(t.geom_metric) / {SQUARE_M})::bigint AS ix,
             floor(ST_Y(t.geom_metric) / {SQUARE_M})::bigint AS iy, count(*)::int AS n
      FROM tickets t WHERE ({{precise}}) IS NOT TRUE AND {{where}} GROUP BY 1, 2) q
WHERE {{exact}} OR q.n >= {MIN_COUNT}"""


# Where a weekly source takes its condition on the grid cells drawn (alias `g`).
CELLS = "<cells>"
# One week's patrols per grid cell, for the cells inside the caller's scope codes that meet
# the condition: the week is counted for those cells only (a tile's, not the whole scope's).
_PATROLS = ("SELECT g.code, g.community_code, g.geom, p.visits, p.buildings_visited, "
            "p.buildings, p.with_findings AS visits_with_findings, "
            "p.proactive AS proactive_tickets, p.reported AS resident_tickets, "
            f"(%(start)s AT TIME ZONE '{TIME_ZONE}')::date::text AS week_start "
            f"FROM ({coverage_sql(in_scopes('g.code') + f' AND {CELLS}')}) p "
            "JOIN grid_cells g ON g.code = p.cell_code")


def _plain(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, f"f.{name}") for name in names)


def _kind_name(names: dict[str, str]) -> tuple[str, str]:
    """`kind_name`: a kind's Chinese title, from the one table of them in `db/labels.py`."""
    return ("kind_name", "CASE f.kind " + " ".join(
        f"WHEN '{kind}' THEN '{name}'" for kind, name in names.items()) + " END")


LAYERS: dict[str, Layer] = {layer.name: layer for layer in (
    Layer("streets", "Streets", "街道", "streets", "f.code", "MultiPolygon", _plain("code", "name")),
    Layer("zones", "Zones", "片区", "zones", "f.code", "MultiPolygon",
          _plain("code", "name", "street_code", "secretary_name")),
    Layer("communities", "Communities", "社区", "communities", "f.code", "Polygon",
          _plain("code", "name", "zone_code", "street_code", "households", "population")),
    Layer("compounds", "Compounds", "小区", "compounds", "f.code", "Polygon",
          _plain("code", "name", "community_code", "households", "population"), min_zoom=12),
    Layer("grid_cells", "Grid cells", "网格", "grid_cells", "f.code", "Polygon",
          _plain("code", "community_code", "households"), min_zoom=12),
    # No building head here: names go only to callers whose scope covers the building.
    Layer("buildings", "Buildings", "楼栋", "buildings", "f.code", "Polygon",
          _plain("code", "compound_code", "cell_code", "floors", "households"), min_zoom=14),
    Layer("facilities", "Facilities", "服务设施", "facilities", "f.code", "Point",
          (*_plain("code", "name", "kind"), _kind_name(labels.FACILITY_KIND_NAMES),
           *_plain("subtype", "community_code", "compound_code"))),
    Layer("waters", "Waters", "水系", "waters", "f.code", "MultiPolygon",
          (*_plain("code", "name", "kind"), _kind_name(labels.WATER_KIND_NAMES))),
    Layer("roads", "Roads", "道路", "roads", "f.code", "MultiLineString",
          (*_plain("code", "name", "kind"), _kind_name(labels.ROAD_KIND_NAMES))),
    Layer("tickets", "Tickets", "工单", "tickets", "f.id", "Point",
          _plain("code", "item_code", "status", "channel", "cell_code", "community_code",
                 "created_on", "precise", "level", "unit_code", "compound_code", "created_at",
                 "due_at", "count"),
          order="f.sort_key"),
    Layer("patrol_coverage", "Patrol coverage", "巡查覆盖", "grid_cells", "f.code", "Polygon",
          _plain("code", "community_code", "week_start", "visits", "buildings_visited",
                 "buildings", "visits_with_findings", "proactive_tickets", "resident_tickets"),
          min_zoom=10, source=_PATROLS),
)}


def layer(name: str) -> Layer:
    """The layer called `name`; KeyError names the known layers."""
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"unknown layer {name!r}; layers are {', '.join(LAYERS)}") from None
