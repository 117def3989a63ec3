"""`redgrid import`: a county's own places — streets 街道, zones 片区, communities 社区, grid
cells 网格, compounds 小区 and buildings 楼栋 — checked and written in one transaction.

Into an empty database the import loads the places; into one that holds places it replaces
each level it holds by code (a place of the same code is updated, a new one added, one the
import lacks deleted); compounds or buildings the mapping leaves out are kept as they are.
Open tickets 工单 move to the cell that now contains their point, each with a CELL_REASSIGNED
event. Nothing is written when any check fails: a feature that cannot be repaired, a reference
system that is missing or wrong, a bad code, a child outside its parent, a gap or an overlap
between neighbours from `reject_neighbour_m2` on (smaller ones are warnings), an open ticket
outside every new cell, or a dropped place that other rows (closed tickets, facilities,
volunteers, units) still refer to. A dry run makes the same checks, writes in the
transaction and rolls it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from db.import_mapping import LEVEL_ATTRIBUTES, ImportMapping, Tolerances
from db.import_sources import Finding, SourceFeature, SourceLayer, read_level
from db.labels import cell_reassigned
from db.queries import place_writes as writes
from geo.codes import COUNTY_CODE, code_kind
from geo.place_checks import gaps, holes, outside, overlaps, repair
from geo.projection import from_metric, to_metric_array

Progress = Callable[[str, int, int], None]

# Readable codes: a zone's (Z1), a compound's (community + C03), a building's (compound + B07).
_READABLE = re.compile(r"[A-Za-z0-9]+")
_CODE_LENGTHS = {"zones": 8, "compounds": 20, "buildings": 24}
_INTEGERS = {"households": 0, "population": 0, "elderly": 0, "children": 0, "floors": 1}
# Text columns' widths (db/models.py).
_TEXT_LENGTHS = {"name": 64, "secretary": 32}
# GB/T 30428 levels: the kind `geo.codes.code_kind` names and the code's digits.
_NESTED_CODES = {"streets": ("street", 9), "communities": ("community", 12),
                 "grid_cells": ("cell", 15)}
# Which level a parent attribute names.
_PARENTS = {"street": "streets", "zone": "zones", "community": "communities",
            "compound": "compounds", "cell": "grid_cells"}
_LEVEL_NAMES = {"streets": "street", "zones": "zone", "communities": "community",
                "grid_cells": "grid cell", "compounds": "compound", "buildings": "building"}


def _noop(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class Place:
    """A checked feature: its code, attributes, and geometry in WGS-84 and EPSG:4549."""

    level: str
    layer: str
    code: str
    values: dict[str, Any]
    lonlat: BaseGeometry
    metric: BaseGeometry


@dataclass
class ImportReport:
    """What an import found and did: its findings, places per level, tickets moved."""

    findings: list[Finding] = field(default_factory=list)
    places: dict[str, int] = field(default_factory=dict)
    moved: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    written: bool = False

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "ERROR"]

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


class _Checker:
    """Checks the levels of one import, in order, keeping what passed."""

    def __init__(self, tolerances: Tolerances, report: ImportReport) -> None:
        self.tol = tolerances
        self.report = report
        self.places: dict[str, dict[str, Place]] = {}
        # Levels whose file could not be read: their children's checks would only echo that.
        self.failed: set[str] = set()

    def fault(self, layer: str, feature: str, kind: str, message: str,
              severity: str = "ERROR") -> None:
        self.report.findings.append(Finding(severity, layer, feature, kind, message))

    # --- one feature ------------------------------------------------------------------

    def _values(self, src: SourceLayer, feat: SourceFeature, name: str) -> dict[str, Any] | None:
        required, _ = LEVEL_ATTRIBUTES[src.level]
        values: dict[str, Any] = {}
        ok = True
        for attribute, value in feat.values.items():
            if value is None:
                if attribute in required:
                    self.fault(src.layer, name, "MISSING_VALUE", f"no {attribute}")
                    ok = False
                continue
            if attribute in _INTEGERS:
                number = _integer(value)
                if number is None or number < _INTEGERS[attribute]:
                    self.fault(src.layer, name, "BAD_VALUE",
                               f"{attribute} must be a whole number ≥ {_INTEGERS[attribute]}, "
                               f"got {value!r}")
                    ok = False
                values[attribute] = number
            else:
                values[attribute] = _text(value)
        for attribute, longest in _TEXT_LENGTHS.items():
            if len(values.get(attribute) or "") > longest:
                self.fault(src.layer, name, "BAD_VALUE",
                           f"the {attribute} is longer than {longest} characters")
                ok = False
        residents = (values.get("elderly") or 0) + (values.get("children") or 0)
        if ok and residents > (values.get("population") or residents):
            self.fault(src.layer, name, "BAD_VALUE",
                       "elderly and children together exceed the population")
            ok = False
        return values if ok else None

    def _geometry(self, src: SourceLayer, feat: SourceFeature, name: str) -> BaseGeometry | None:
        if feat.lonlat is None:
            if not any(f.kind == "WRONG_SRID" for f in src.findings):
                self.fault(src.layer, name, "MISSING_GEOMETRY", "the feature has no geometry")
            return None
        if not isinstance(feat.lonlat, Polygon | MultiPolygon):
            self.fault(src.layer, name, "NOT_A_POLYGON",
                       f"a {_LEVEL_NAMES[src.level]} is a polygon, not a {feat.lonlat.geom_type}")
            return None
        fixed = repair(feat.lonlat, self.tol.repair_area_change)
        if fixed.geometry is None:
            self.fault(src.layer, name, "INVALID_RING",
                       f"{fixed.reason}; a repair would change the area by "
                       f"{fixed.area_change:.1%} (at most {self.tol.repair_area_change:.1%})")
            return None
        if fixed.repaired:
            self.fault(src.layer, name, "RING_REPAIRED",
                       f"{fixed.reason}; repaired, area changed by {fixed.area_change:.2%}",
                       severity="REPAIRED")
        geom = fixed.geometry
        if src.level in ("streets", "zones"):
            return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])
        parts = list(shapely.get_parts(geom))
        if len(parts) != 1:
            self.fault(src.layer, name, "NOT_ONE_POLYGON",
                       f"a {_LEVEL_NAMES[src.level]} is one polygon; this one has {len(parts)}")
            return None
        single: Polygon = parts[0]
        return single

    def add_level(self, src: SourceLayer) -> None:
        self.report.findings += src.findings
        kept: dict[str, Place] = {}
        if any(f.severity == "ERROR" for f in src.findings):
            self.places[src.level] = kept
            self.failed.add(src.level)
            return
        named: dict[str, str] = {}  # community names are unique
        for feat in src.features:
            code = feat.values.get("code")
            name = _text(code) if code is not None else f"fid {feat.fid}"
            values = self._values(src, feat, name)
            geom = self._geometry(src, feat, name)
            if values is None or geom is None:
                continue
            if name in kept:
                self.fault(src.layer, name, "DUPLICATE_CODE", "another feature has this code")
                continue
            if not self._code_ok(src, name, values):
                continue
            if src.level == "communities" and values["name"] in named:
                self.fault(src.layer, name, "DUPLICATE_NAME",
                           f"community {named[values['name']]} has the name {values['name']}")
                continue
            named.setdefault(str(values.get("name")), name)
            metric = shapely.transform(geom, to_metric_array)
            kept[name] = Place(src.level, src.layer, name, values, geom, metric)
        self.places[src.level] = kept

    # --- codes and parents ------------------------------------------------------------

    def _code_ok(self, src: SourceLayer, code: str, values: dict[str, Any]) -> bool:
        level = src.level
        if level in _NESTED_CODES:
            kind, digits = _NESTED_CODES[level]
            if code_kind(code) != kind:
                self.fault(src.layer, code, "BAD_CODE",
                           f"a {_LEVEL_NAMES[level]} code has {digits} digits and starts with "
                           f"the county's {COUNTY_CODE} (GB/T 30428)")
                return False
        elif not _READABLE.fullmatch(code) or len(code) > _CODE_LENGTHS[level]:
            self.fault(src.layer, code, "BAD_CODE",
                       f"a {_LEVEL_NAMES[level]} code is 1–{_CODE_LENGTHS[level]} letters and "
                       f"digits")
            return False
        # Parents named by a code prefix (GB/T 30428 nesting, and the demo's readable codes).
        if level == "communities":
            values["street"] = code[:9]
        if level in ("grid_cells", "compounds"):
            values.setdefault("community", code[:12])
        prefix_parent = {"communities": "street", "grid_cells": "community",
                         "compounds": "community", "buildings": "compound"}.get(level)
        if prefix_parent and not code.startswith(str(values[prefix_parent])):
            self.fault(src.layer, code, "CODE_PREFIX",
                       f"the code does not start with its {prefix_parent}'s code "
                       f"{values[prefix_parent]}")
            return False
        return True

    def parents(self) -> None:
        """Every parent exists, and every child lies inside its parent (within tolerance)."""
        for level, places in self.places.items():
            for place in list(places.values()):
                for attribute in ("street", "zone", "community", "compound"):
                    if attribute not in place.values:
                        continue
                    parent_level = _PARENTS[attribute]
                    if parent_level in self.failed:
                        continue
                    parent = self.places.get(parent_level, {}).get(place.values[attribute])
                    if parent is None:
                        self.fault(place.layer, place.code, "UNKNOWN_PARENT",
                                   f"its {attribute} {place.values[attribute]} is not in the "
                                   f"import's {parent_level}")
                        continue
                    out = outside(place.metric, parent.metric)
                    if out.distance_m > self.tol.outside_parent_m:
                        self.fault(place.layer, place.code, "OUTSIDE_PARENT",
                                   f"sticks out of its {attribute} {parent.code} by up to "
                                   f"{out.distance_m:,.1f} m ({out.area_m2:,.1f} m² outside)")
                if level == "communities":
                    zone = self.places["zones"].get(place.values["zone"])
                    if zone is not None and zone.values["street"] != place.values["street"]:
                        self.fault(place.layer, place.code, "ZONE_STREET",
                                   f"its zone {zone.code} lies in street {zone.values['street']}, "
                                   f"the community in {place.values['street']}")

    # --- neighbours -------------------------------------------------------------------

    def _neighbour_severity(self, area_m2: float) -> str:
        return "ERROR" if area_m2 >= self.tol.reject_neighbour_m2 else "WARNING"

    def neighbours(self) -> None:
        """Overlaps within each level, and gaps where children should tile their parent: slivers
        are warnings, larger pieces errors."""
        min_m2 = self.tol.neighbour_m2
        for level, places in self.places.items():
            listed = list(places.values())
            for o in overlaps([p.metric for p in listed], min_m2):
                a, b = listed[o.first], listed[o.second]
                self.fault(a.layer, a.code, "OVERLAP",
                           f"overlaps {_LEVEL_NAMES[level]} {b.code} by {o.area_m2:,.1f} m²",
                           self._neighbour_severity(o.area_m2))
        streets = list(self.places.get("streets", {}).values())
        for gap in holes([s.metric for s in streets], min_m2):
            self.fault(streets[0].layer, "", "GAP",
                       f"a gap of {gap.area_m2:,.1f} m² between streets{_at(gap.at)}",
                       self._neighbour_severity(gap.area_m2))
        for child, attribute, parent in (("zones", "street", "streets"),
                                         ("communities", "zone", "zones"),
                                         ("grid_cells", "community", "communities")):
            if child in self.failed:
                continue
            members: dict[str, list[Place]] = {}
            for p in self.places.get(child, {}).values():
                members.setdefault(p.values[attribute], []).append(p)
            for code, outer in self.places.get(parent, {}).items():
                for gap in gaps(outer.metric, [m.metric for m in members.get(code, [])], min_m2):
                    self.fault(outer.layer, code, "GAP",
                               f"{gap.area_m2:,.1f} m² of it lie in no {_LEVEL_NAMES[child]}"
                               f"{_at(gap.at)}", self._neighbour_severity(gap.area_m2))

    def building_cells(self) -> None:
        """A building's cell, where no field gives it: the lowest code containing its centre."""
        cells = sorted(self.places.get("grid_cells", {}).values(), key=lambda c: c.code)
        if not cells:
            return
        tree = shapely.STRtree([c.metric for c in cells])
        for b in self.places.get("buildings", {}).values():
            if "cell" in b.values:
                if b.values["cell"] not in self.places["grid_cells"]:
                    self.fault(b.layer, b.code, "UNKNOWN_PARENT",
                               f"its cell {b.values['cell']} is not in the import's grid_cells")
                continue
            hit = tree.query(b.metric.representative_point(), predicate="intersects")
            if len(hit) == 0:
                self.fault(b.layer, b.code, "OUTSIDE_PARENT", "it lies in no grid cell")
                continue
            b.values["cell"] = cells[int(min(hit))].code


def _at(point: Any) -> str:
    """Where a metric point lies, as WGS-84 lon/lat a person can look up."""
    lon, lat = from_metric(point.x, point.y)
    return f" near {lon:.6f}, {lat:.6f}"


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _hex(geom: BaseGeometry) -> str:
    return str(shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True))


def _columns(level: str, p: Place) -> tuple[Any, ...]:
    """The row of a place for `place_writes.PLACE_COLUMNS[level]`, geometry last."""
    v = p.values
    match level:
        case "streets":
            row: tuple[Any, ...] = (p.code, v["name"])
        case "zones":
            row = (p.code, v["name"], v["street"], v.get("secretary") or "")
        case "communities":
            row = (p.code, v["name"], v["zone"], v["street"], v["households"], v["population"])
        case "grid_cells":
            row = (p.code, v["community"], v["households"])
        case "compounds":
            row = (p.code, v["name"], v["community"], v["households"], v["population"],
                   v.get("elderly") or 0, v.get("children") or 0)
        case _:
            row = (p.code, v["compound"], v["cell"], v["floors"], v["households"])
    return (*row, _hex(p.lonlat))


def _rows(level: str, places: Iterable[Place]) -> list[tuple[Any, ...]]:
    return [_columns(level, p) for p in sorted(places, key=lambda p: p.code)]


def check_places(mapping: ImportMapping, progress: Progress = _noop) -> tuple[
        ImportReport, dict[str, dict[str, Place]]]:
    """Reads and checks every mapped level; returns the report and the places that passed."""
    report = ImportReport()
    checker = _Checker(mapping.tolerances, report)
    total = len(mapping.levels) + 2
    for n, src in enumerate(mapping.levels):
        progress(f"reading {src.level}", n, total)
        checker.add_level(read_level(src))
    progress("checking parents", total - 2, total)
    checker.parents()
    checker.building_cells()
    progress("checking neighbours", total - 1, total)
    checker.neighbours()
    report.places = {level: len(p) for level, p in checker.places.items()}
    return report, checker.places


def _write(conn: psycopg.Connection, places: Mapping[str, Mapping[str, Place]],
           report: ImportReport, progress: Progress) -> None:
    writes.lock_places(conn)
    tables = [t for t in writes.PLACE_TABLES if t in places]
    total = len(tables) * 2 + 1
    for n, table in enumerate(tables):
        progress(f"writing {table}", n, total)
        writes.upsert(conn, table, _rows(table, places[table].values()))
    progress("moving open tickets", len(tables), total)
    compounds = list(places["compounds"]) if "compounds" in places else None
    moves = writes.open_ticket_moves(conn, list(places["grid_cells"]), compounds)
    for m in moves:
        if m.cell is None:
            report.findings.append(Finding(
                "ERROR", "tickets", m.code, "OUTSIDE_COVERAGE",
                f"the open ticket (in cell {m.old_cell}) lies in none of the imported cells"))
    moved = [m for m in moves if m.cell is not None]
    writes.move_tickets(conn, moved, [cell_reassigned(m.old_cell, str(m.cell)) for m in moved])
    for m in moved:
        report.findings.append(Finding("NOTE", "tickets", m.code, "TICKET_MOVED",
                                       f"{m.status}: cell {m.old_cell} → {m.cell}"))
    report.moved = len(moved)
    for n, table in enumerate(reversed(tables)):
        progress(f"dropping old {table}", len(tables) + 1 + n, total)
        kept = list(places[table])
        referring: dict[str, list[tuple[str, int]]] = {}
        for code, where, count in writes.dropped_references(conn, table, kept, tables):
            referring.setdefault(where, []).append((code, count))
        for where, hits in referring.items():
            codes = ", ".join(code for code, _ in hits[:5]) + (", …" if len(hits) > 5 else "")
            report.findings.append(Finding(
                "ERROR", table, hits[0][0], "STILL_REFERENCED",
                f"the import drops {len(hits):,} {table} that {sum(c for _, c in hits):,} "
                f"row(s) of {where} still refer to: {codes}"))
        if not report.errors:
            report.dropped[table] = writes.drop_missing(conn, table, kept)


def import_places(conninfo: str, mapping: ImportMapping, *, dry_run: bool = False,
                  progress: Progress = _noop) -> ImportReport:
    """Checks the mapped places and, when nothing is wrong and this is no dry run, writes them
    in one transaction (all or nothing); returns the report."""
    report, places = check_places(mapping, progress)
    if report.errors:
        return report
    with psycopg.connect(conninfo) as conn:
        try:
            _write(conn, places, report, progress)
        except psycopg.errors.IntegrityError as exc:
            # A rule of the database the checks above do not know (a constraint added later).
            conn.rollback()
            report.findings.append(Finding("ERROR", "database", "", "DATABASE_REFUSED",
                                           str(exc).splitlines()[0]))
        if report.errors or dry_run:
            conn.rollback()
        else:
            conn.commit()
            report.written = True
    progress("done", 1, 1)
    return report
