"""The map layers that tiles, OGC API Features and GraphQL `layer` serve, as SQL pieces.

One catalogue, so every way out of the service draws the same features with the same
properties and applies the same rule for tickets 工单: a caller sees the exact point and the
working fields of the tickets their scope covers; every other ticket is generalised to the
centre of its 100 m square (EPSG:4549) and keeps only what the public heat map shows anyway.
No layer ever carries a reporter's name, phone or the free-text description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from db.queries.ticket_scope import TicketScope

# Side of the square a ticket's point is generalised to for callers outside its scope.
GENERALISED_M = 100


@dataclass(frozen=True)
class Layer:
    """A drawable layer: one table, its key, its properties and its geometry, all in SQL.

    `properties` maps a property name to a SQL expression over the table alias `f`;
    `geom` is a SQL expression in EPSG:4326. `order` keeps pages stable.
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

    @property
    def is_tickets(self) -> bool:
        return self.table == "tickets"

    def select_list(self) -> str:
        """`key AS id, <properties>` for a SELECT over `FROM <table> f`."""
        columns = [f"{self.key} AS id"]
        columns += [f"{expr} AS {name}" for name, expr in self.properties]
        return ", ".join(columns)

    def from_clause(self, scope: TicketScope | None) -> tuple[str, dict[str, Any]]:
        """`FROM ...` with the rule for ticket rows applied; scope None means no ticket scope
        (the public, planners)."""
        if not self.is_tickets:
            return f"FROM {self.table} f", {}
        precise, params = ("FALSE", {}) if scope is None else scope.clause("t")
        return (f"FROM (SELECT t.*, ({precise}) AS precise FROM tickets t) f"), params


def _plain(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((name, f"f.{name}") for name in names)


# The centre of a ticket's 100 m square (EPSG:4549), and that centre in EPSG:4326.
GENERALISED_SQUARE = (f"ST_SnapToGrid(f.geom_metric, {GENERALISED_M / 2}, {GENERALISED_M / 2}, "
                      f"{GENERALISED_M}, {GENERALISED_M})")
GENERALISED_GEOM = f"ST_Transform({GENERALISED_SQUARE}, 4326)"


def _precise_only(column: str) -> str:
    return f"CASE WHEN f.precise THEN f.{column} END"


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
    Layer("facilities", "Facilities", "服务设施", "facilities", "f.code", "Point",
          _plain("code", "name", "kind", "subtype", "community_code", "compound_code")),
    Layer("tickets", "Tickets", "工单", "tickets", "f.code", "Point",
          (("code", "f.code"), ("item_code", "f.item_code"), ("status", "f.status"),
           ("channel", "f.channel"), ("cell_code", "f.cell_code"),
           ("community_code", "f.community_code"),
           ("created_on", "(f.created_at AT TIME ZONE 'Asia/Shanghai')::date::text"),
           ("precise", "f.precise"),
           ("level", _precise_only("level")), ("unit_code", _precise_only("unit_code")),
           ("compound_code", _precise_only("compound_code")),
           ("due_at", "CASE WHEN f.precise THEN f.due_at::text END")),
          geom=f"CASE WHEN f.precise THEN f.geom ELSE {GENERALISED_GEOM} END",
          order="f.id"),
)}


def layer(name: str) -> Layer:
    """The layer called `name`; KeyError names the known layers."""
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"unknown layer {name!r}; layers are {', '.join(LAYERS)}") from None
