"""`redgrid import` on fixture files with every kind of fault, and into a database: all or
nothing, open tickets moved with an event, a dry run that writes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from shapely.geometry import LineString, Polygon
from typer.testing import CliRunner

from db import migrate
from db.catalogue import load_catalogue
from db.import_mapping import MappingError, load_mapping, parse_mapping
from db.place_import import ImportReport, check_places, import_places
from db.seed import SeedError, seed_demo
from db.urls import psycopg_conninfo
from tests.conftest import create_database, drop_database
from tests.db.county_files import (
    EAST,
    WEST,
    X0,
    Y0,
    changed,
    county,
    rect,
    write_county,
    write_layer,
)
from web.cli import app
from web.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "import-mapping.example.toml"
CELL = f"{WEST}001"  # the north-west cell
IMPORT_DB = f"redgrid_import_{os.getpid()}"
PLACES = ("streets", "zones", "communities", "grid_cells", "compounds", "buildings")


def mapping_text(files: dict[str, str] | None = None, extra: str = "") -> str:
    """The shipped example mapping, with other files for some levels and lines added on top."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for level, name in (files or {}).items():
        text = text.replace(f'[{level}]\nfile = "places.gpkg"', f'[{level}]\nfile = "{name}"')
    return extra + "\n" + text


def check(tmp_path: Path, levels: dict[str, Any] | None = None, text: str | None = None,
          **files: Path) -> ImportReport:
    """Writes the county (or `levels`) and checks it against the mapping."""
    paths = [write_county(tmp_path, levels or county())] + list(files.values())
    mapping = parse_mapping(text or mapping_text({k: p.name for k, p in files.items()}), paths)
    report, _ = check_places(mapping)
    return report


def kinds(report: ImportReport) -> set[tuple[str, str, str]]:
    return {(f.severity, f"{f.layer}:{f.feature}", f.kind) for f in report.findings}


# --- the county as it should be -----------------------------------------------------------

def test_a_clean_county_passes_with_nothing_to_report(tmp_path: Path) -> None:
    report = check(tmp_path)
    assert report.findings == []
    assert report.places == {"streets": 1, "zones": 1, "communities": 2, "grid_cells": 4,
                             "compounds": 2}


# --- rings ---------------------------------------------------------------------------------

def test_a_ring_crossing_itself_a_little_is_repaired_and_reported(tmp_path: Path) -> None:
    x, y = X0 + 1000, Y0 + 1000  # the north-east corner of the western community's north cell
    notch = Polygon([(X0, Y0 + 500), (x, Y0 + 500), (x, y), (x - 498, y), (x - 502, y - 4),
                     (x - 498, y - 4), (x - 502, y), (X0, y)])
    assert not notch.is_valid
    report = check(tmp_path, changed(county(), "grid_cells", CELL, notch))
    (line,) = [f for f in report.findings if f.kind == "RING_REPAIRED"]
    assert (line.severity, line.layer, line.feature) == ("REPAIRED", "grid_cells", CELL)
    assert "Self-intersection" in line.message and "area changed by 0.00%" in line.message
    assert report.errors == []


def test_a_bow_tie_is_rejected_naming_the_feature(tmp_path: Path) -> None:
    bow = Polygon([(X0, Y0 + 500), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0 + 500),
                   (X0, Y0 + 1000)])
    report = check(tmp_path, changed(county(), "grid_cells", CELL, bow))
    assert ("ERROR", f"grid_cells:{CELL}", "INVALID_RING") in kinds(report)
    (line,) = [f for f in report.findings if f.kind == "INVALID_RING"]
    assert "would change the area by 100.0% (at most 1.0%)" in line.message


# --- reference systems ---------------------------------------------------------------------

def shapefile_mapping(extra: str = "") -> str:
    """The example mapping with the cells in a Shapefile (whose field names have at most 10
    characters)."""
    return mapping_text({"grid_cells": "cells.shp"}).replace(
        'community = "community_code"', 'community = "community_"', 1).replace(
        '[grid_cells]\nfile = "cells.shp"', f'[grid_cells]\nfile = "cells.shp"{extra}')


def cells_shapefile(tmp_path: Path, srid: int) -> Path:
    cells = tmp_path / "cells.shp"
    features = [({"code": p["code"], "community_": p["community_code"],
                  "households": p["households"]}, g) for p, g in county()["grid_cells"]]
    write_layer(cells, "cells", features, srid=srid, declared=None)
    return cells


def test_a_file_without_a_reference_system_is_refused(tmp_path: Path) -> None:
    cells = cells_shapefile(tmp_path, 4326)
    report = check(tmp_path, text=shapefile_mapping(), grid_cells=cells)
    assert [f.line() for f in report.errors] == [
        "ERROR    cells  MISSING_SRID  the file declares no reference system and the mapping "
        "gives none (srid = ...)"]


@pytest.mark.parametrize("where", ["level", "top"])
def test_the_mapping_supplies_a_missing_srid(tmp_path: Path, where: str) -> None:
    cells = cells_shapefile(tmp_path, 4549)
    text = (shapefile_mapping("\nsrid = 4549") if where == "level"
            else "srid = 4549\n" + shapefile_mapping())
    report = check(tmp_path, text=text, grid_cells=cells)
    assert report.errors == []
    assert ("NOTE", "cells:", "TRANSFORMED") in kinds(report)


@pytest.mark.parametrize(("srid", "name"), [(4549, "cells.gpkg"), (3857, "cells.geojson")])
def test_other_reference_systems_are_transformed(tmp_path: Path, srid: int, name: str) -> None:
    cells = tmp_path / name
    write_layer(cells, "grid_cells", county()["grid_cells"], srid=srid)
    report = check(tmp_path, grid_cells=cells)
    assert report.errors == [] and report.places["grid_cells"] == 4
    (note,) = [f for f in report.findings if f.kind == "TRANSFORMED"]
    assert note.message == f"read in EPSG:{srid}, stored in EPSG:4326"


def test_a_wrong_reference_system_is_refused(tmp_path: Path) -> None:
    cells = tmp_path / "cells.geojson"  # metres, but declared as degrees
    write_layer(cells, "grid_cells", county()["grid_cells"], srid=4549, declared=4326)
    report = check(tmp_path, grid_cells=cells)
    (error,) = report.errors
    assert (error.layer, error.feature, error.kind) == ("grid_cells", CELL, "WRONG_SRID")
    assert "4 feature(s) land outside China" in error.message


# --- neighbours ----------------------------------------------------------------------------

def test_gaps_are_reported_with_their_area(tmp_path: Path) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "big").mkdir()
    # The north-west cell leaves a strip of its community uncovered: 1 × 500 m, then 50 × 500.
    warned = check(tmp_path / "small", changed(county(), "grid_cells", CELL,
                                               rect(0, 500, 999, 500)))
    (gap,) = [f for f in warned.findings if f.kind == "GAP"]
    assert (gap.severity, gap.layer, gap.feature) == ("WARNING", "communities", WEST)
    assert gap.message.startswith("500.0 m² of it lie in no grid cell near 118.7")
    assert warned.errors == []
    refused = check(tmp_path / "big", changed(county(), "grid_cells", CELL,
                                              rect(0, 500, 950, 500)))
    (error,) = refused.errors
    assert error.line().startswith(f"ERROR    communities:{WEST}  GAP  25,000.0 m² of it lie ")


def test_overlaps_are_reported_with_their_area(tmp_path: Path) -> None:
    # The north cell grows 30 m south into its neighbour: 1,000 × 30 m shared.
    levels = changed(county(), "grid_cells", CELL, rect(0, 470, 1000, 530))
    report = check(tmp_path, levels)
    (overlap,) = report.errors
    assert overlap.line() == (f"ERROR    grid_cells:{CELL}  OVERLAP  overlaps grid cell "
                              f"{WEST}002 by 30,000.0 m²")


# --- codes and parents ---------------------------------------------------------------------

@pytest.mark.parametrize(("code", "kind"), [
    ("37132900100100", "BAD_CODE"),    # 14 digits
    ("37132800100101", "BAD_CODE"),    # 14 digits, another county
    ("371328001001001", "BAD_CODE"),   # another county's prefix
    ("371329001002003", "CODE_PREFIX"),  # the other community's number
])
def test_bad_codes_are_refused(tmp_path: Path, code: str, kind: str) -> None:
    levels = changed(county(), "grid_cells", CELL, code=code)
    report = check(tmp_path, levels)
    assert ("ERROR", f"grid_cells:{code}", kind) in kinds(report)


def test_a_child_outside_its_parent_is_refused(tmp_path: Path) -> None:
    # The western compound slides 100 m east, across into the eastern community.
    levels = changed(county(), "compounds", f"{WEST}C01", rect(800, 200, 300, 300))
    report = check(tmp_path, levels)
    outside = [f for f in report.errors if f.kind == "OUTSIDE_PARENT"]
    assert [f.line() for f in outside] == [
        f"ERROR    compounds:{WEST}C01  OUTSIDE_PARENT  sticks out of its community {WEST} by "
        f"up to 100.0 m (30,000.0 m² outside)"]


def test_an_unknown_parent_is_refused(tmp_path: Path) -> None:
    levels = changed(county(), "communities", EAST, zone_code="Z9")
    assert ("ERROR", f"communities:{EAST}", "UNKNOWN_PARENT") in kinds(check(tmp_path, levels))


# --- fields --------------------------------------------------------------------------------

def test_a_missing_field_is_refused_naming_the_layer(tmp_path: Path) -> None:
    text = mapping_text().replace('households = "households"\n\n[compounds]',
                                  'households = "hh"\n\n[compounds]')
    report = check(tmp_path, text=text)
    (error,) = report.errors
    assert error.line() == ("ERROR    grid_cells  MISSING_FIELD  no field 'hh' (for households); "
                            "the layer has code, community_code, households")


def test_missing_values_and_duplicate_codes_name_the_feature(tmp_path: Path) -> None:
    levels = changed(county(), "communities", EAST, name=None)
    levels["grid_cells"].append(levels["grid_cells"][0])
    found = kinds(check(tmp_path, levels))
    assert ("ERROR", f"communities:{EAST}", "MISSING_VALUE") in found
    assert ("ERROR", f"grid_cells:{CELL}", "DUPLICATE_CODE") in found


def test_a_mapping_without_a_required_level_or_attribute_is_unusable(tmp_path: Path) -> None:
    paths = [tmp_path / "places.gpkg"]
    text = mapping_text()
    without_cells = text[:text.index("[grid_cells]")] + text[text.index("[compounds]"):]
    with pytest.raises(MappingError, match="the mapping names no grid_cells"):
        parse_mapping(without_cells, paths)
    with pytest.raises(MappingError, match=r"\[streets.fields\]: say which source field gives "
                                           r"name"):
        parse_mapping(mapping_text().replace('name = "name"\n\n[zones]', "\n[zones]"), paths)


# --- into a database -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def empty(base_settings: Settings) -> Iterator[str]:
    """A migrated database holding no places, for the import alone."""
    s = create_database(base_settings, IMPORT_DB)
    migrate.upgrade(s.database_url)
    yield psycopg_conninfo(s.database_url)
    drop_database(base_settings, IMPORT_DB)


@pytest.fixture
def target(empty: str) -> Iterator[psycopg.Connection]:
    """The empty database, emptied again after each test."""
    with psycopg.connect(empty, autocommit=True) as conn:
        yield conn
        conn.execute("TRUNCATE streets, zones, communities, grid_cells, compounds, buildings, "
                     "demand_categories, demand_items, tickets, ticket_events, notifications "
                     "CASCADE")


def run(tmp_path: Path, conninfo: str, levels: dict[str, Any] | None = None,
        dry_run: bool = False, name: str = "places.gpkg") -> ImportReport:
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    path = write_county(folder, levels or county(), name=name)
    text = mapping_text().replace('file = "places.gpkg"', f'file = "{name}"')
    return import_places(conninfo, parse_mapping(text, [path]), dry_run=dry_run)


def counts(conn: psycopg.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in PLACES}


def test_an_import_fills_an_empty_database(tmp_path: Path, empty: str,
                                           target: psycopg.Connection) -> None:
    report = run(tmp_path, empty)
    assert report.errors == [] and report.written
    assert counts(target) == {"streets": 1, "zones": 1, "communities": 2, "grid_cells": 4,
                              "compounds": 2, "buildings": 0}
    row = target.execute("SELECT street_code, zone_code, ST_SRID(geom), "
                         "round(ST_Area(ST_Transform(geom, 4549))) FROM communities "
                         "WHERE code = %s", (EAST,)).fetchone()
    assert row == (EAST[:9], "Z1", 4326, 1_000_000)


def test_a_dry_run_writes_nothing(tmp_path: Path, empty: str,
                                  target: psycopg.Connection) -> None:
    report = run(tmp_path, empty, dry_run=True)
    assert report.errors == [] and not report.written
    assert set(counts(target).values()) == {0}


def test_a_failing_import_writes_nothing(tmp_path: Path, empty: str,
                                         target: psycopg.Connection) -> None:
    run(tmp_path, empty)
    moved = changed(county(), "communities", EAST, name="新东苑社区")
    moved = changed(moved, "compounds", f"{WEST}C01", rect(800, 200, 300, 300))
    report = run(tmp_path, empty, moved)
    assert [f.kind for f in report.errors] == ["OUTSIDE_PARENT"] and not report.written
    assert target.execute("SELECT name FROM communities WHERE code = %s",
                          (EAST,)).fetchone() == ("东苑社区",)


def _ticket(conn: psycopg.Connection, code: str, status: str, cell: str, x: float,
            y: float) -> None:
    """A ticket at (x, y) m from the county's corner, filed in `cell`."""
    from geo.projection import from_metric

    lon, lat = from_metric(X0 + x, Y0 + y)
    conn.execute(
        "INSERT INTO tickets (code, item_code, channel, description, status, geom, cell_code, "
        "community_code, zone_code, street_code, created_at, due_at, updated_at) VALUES "
        "(%s, 'P01', 'ONLINE', '测试', %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s, %s, "
        "'Z1', '371329001', now(), now() + interval '1 day', now())",
        (code, status, lon, lat, cell, cell[:12]))


def _with_catalogue(conn: psycopg.Connection) -> None:
    item = next(i for i in load_catalogue() if i.code == "P01")
    conn.execute("INSERT INTO demand_categories VALUES (%s, %s, %s)",
                 (item.category_code, item.category_zh, item.category_en))
    conn.execute("INSERT INTO demand_items VALUES (%s, %s, %s, %s, %s, %s, %s)",
                 (item.code, item.category_code, item.name_zh, item.name_en,
                  item.lead_unit_kind, list(item.cooperating_unit_kinds), item.deadline_class))


def resplit(levels: dict[str, Any]) -> dict[str, Any]:
    """The western community cut east-west instead of north-south, into cells 003 and 004."""
    cells = [c for c in levels["grid_cells"] if not c[0]["code"].startswith(WEST)]
    cells += [({"code": f"{WEST}003", "community_code": WEST, "households": 400},
               rect(0, 0, 500, 1000)),
              ({"code": f"{WEST}004", "community_code": WEST, "households": 400},
               rect(500, 0, 500, 1000))]
    return {**levels, "grid_cells": cells}


def test_open_tickets_move_to_their_new_cells_with_an_event(
        tmp_path: Path, empty: str, target: psycopg.Connection) -> None:
    run(tmp_path, empty)
    _with_catalogue(target)
    _ticket(target, "T-NW", "DISPATCHED", CELL, 200, 800)  # north-west: into the west cell
    _ticket(target, "T-NE", "SUBMITTED", CELL, 800, 800)   # north-east: into the east cell
    report = run(tmp_path, empty, resplit(county()))
    assert report.errors == [] and report.moved == 2
    assert {f.line() for f in report.findings if f.kind == "TICKET_MOVED"} == {
        f"NOTE     tickets:T-NE  TICKET_MOVED  SUBMITTED: cell {CELL} → {WEST}004",
        f"NOTE     tickets:T-NW  TICKET_MOVED  DISPATCHED: cell {CELL} → {WEST}003"}
    rows = target.execute(
        "SELECT t.code, t.cell_code, t.version, e.action, e.note, e.from_status FROM tickets t "
        "JOIN ticket_events e ON e.ticket_id = t.id ORDER BY t.code").fetchall()
    assert rows == [
        ("T-NE", f"{WEST}004", 2, "CELL_REASSIGNED", f"网格调整：{CELL} → {WEST}004", None),
        ("T-NW", f"{WEST}003", 2, "CELL_REASSIGNED", f"网格调整：{CELL} → {WEST}003", None)]
    assert counts(target)["grid_cells"] == 4  # the old two dropped, the new two added
    # The durable outbox (0007) ignores the event: no unit is notified of a re-drawn map.
    assert target.execute("SELECT count(*) FROM notifications").fetchone() == (0,)


def test_a_closed_ticket_keeps_its_cell_from_being_dropped(
        tmp_path: Path, empty: str, target: psycopg.Connection) -> None:
    run(tmp_path, empty)
    _with_catalogue(target)
    _ticket(target, "T-OLD", "CLOSED", CELL, 200, 800)
    report = run(tmp_path, empty, resplit(county()))
    (error,) = report.errors
    assert error.line() == (
        f"ERROR    grid_cells:{CELL}  STILL_REFERENCED  the import drops 1 grid_cells that 1 "
        f"row(s) of tickets.cell_code still refer to: {CELL}")
    assert target.execute("SELECT count(*) FROM grid_cells WHERE code = %s",
                          (f"{WEST}003",)).fetchone() == (0,)


def test_an_open_ticket_outside_the_new_cells_is_refused(
        tmp_path: Path, empty: str, target: psycopg.Connection) -> None:
    run(tmp_path, empty)
    _with_catalogue(target)
    _ticket(target, "T-EDGE", "IN_PROGRESS", f"{EAST}002", 2100, 100)  # 100 m east of it all
    report = run(tmp_path, empty)
    assert ("ERROR", "tickets:T-EDGE", "OUTSIDE_COVERAGE") in kinds(report)
    assert not report.written


def test_the_cli_prints_the_report_and_fails_on_errors(tmp_path: Path, empty: str,
                                                       target: psycopg.Connection,
                                                       base_settings: Settings) -> None:
    bow = Polygon([(X0, Y0 + 500), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0 + 500),
                   (X0, Y0 + 1000)])
    path = write_county(tmp_path, changed(county(), "grid_cells", CELL, bow))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(mapping_text(), encoding="utf-8")
    env = {"REDGRID_ENV": "development", "REDGRID_DATABASE": IMPORT_DB}
    done = CliRunner().invoke(app, ["import", str(path), "--mapping", str(mapping),
                                    "--dry-run"], env=env)
    assert done.exit_code == 1
    assert f"ERROR    grid_cells:{CELL}  INVALID_RING" in done.stdout
    assert "nothing written" in done.output
    assert load_mapping(mapping, [path]).levels[0].level == "streets"


BUILDINGS = """
[buildings]
file = "places.gpkg"
[buildings.fields]
code = "code"
compound = "compound_code"
floors = "floors"
households = "households"
"""


def with_buildings(levels: dict[str, Any]) -> dict[str, Any]:
    """A slab building in each compound, 60 × 14 m, in the south cells."""
    return {**levels, "buildings": [
        ({"code": f"{c}C01B01", "compound_code": f"{c}C01", "floors": 6, "households": 24},
         rect(x + 220, 220, 60, 14)) for c, x in ((WEST, 0), (EAST, 1000))]}


def test_buildings_get_the_cell_holding_their_centre_and_stay_when_left_out(
        tmp_path: Path, empty: str, target: psycopg.Connection) -> None:
    path = write_county(tmp_path, with_buildings(county()))
    report = import_places(empty, parse_mapping(mapping_text() + BUILDINGS, [path]))
    assert report.errors == [] and report.places["buildings"] == 2
    assert target.execute("SELECT code, compound_code, cell_code FROM buildings "
                          "ORDER BY code").fetchall() == [
        (f"{WEST}C01B01", f"{WEST}C01", f"{WEST}002"),
        (f"{EAST}C01B01", f"{EAST}C01", f"{EAST}002")]
    # The next import leaves buildings out of its mapping: they are kept as they are.
    assert run(tmp_path, empty).errors == []
    assert counts(target)["buildings"] == 2


def test_a_building_outside_its_compound_is_refused(tmp_path: Path) -> None:
    levels = changed(with_buildings(county()), "buildings", f"{WEST}C01B01",
                     rect(600, 220, 60, 14))
    report = check(tmp_path, levels, text=mapping_text() + BUILDINGS)
    assert ("ERROR", f"buildings:{WEST}C01B01", "OUTSIDE_PARENT") in kinds(report)


def test_the_level_srid_corrects_a_declaration_the_default_does_not(tmp_path: Path) -> None:
    cells = tmp_path / "cells.geojson"  # metres, but declared as degrees
    write_layer(cells, "grid_cells", county()["grid_cells"], srid=4549, declared=4326)
    default = check(tmp_path, text="srid = 4549\n" + mapping_text({"grid_cells": cells.name}),
                    grid_cells=cells)
    assert [f.kind for f in default.errors] == ["WRONG_SRID"]
    (tmp_path / "again").mkdir()
    corrected = check(tmp_path / "again",
                      text=mapping_text({"grid_cells": cells.name}).replace(
                          f'file = "{cells.name}"', f'file = "{cells.name}"\nsrid = 4549'),
                      grid_cells=cells)
    assert corrected.errors == []
    assert [f.line() for f in corrected.findings] == [
        "NOTE     grid_cells  SRID_OVERRIDDEN  the file declares EPSG:4326; read as EPSG:4549 "
        "as the mapping says",
        "NOTE     grid_cells  TRANSFORMED  read in EPSG:4549, stored in EPSG:4326"]


def test_a_line_is_not_a_place(tmp_path: Path) -> None:
    outline = LineString(rect(1200, 200, 300, 300).exterior.coords)
    compounds = tmp_path / "compounds.geojson"  # GeoJSON takes any geometry in any layer
    write_layer(compounds, "compounds",
                changed(county(), "compounds", f"{EAST}C01", outline)["compounds"])
    report = check(tmp_path, compounds=compounds)
    assert [f.line() for f in report.errors] == [
        f"ERROR    compounds:{EAST}C01  NOT_A_POLYGON  a compound is a polygon, not a "
        f"LineString"]


def test_the_demo_is_not_seeded_over_imported_places(tmp_path: Path, empty: str,
                                                     target: psycopg.Connection) -> None:
    run(tmp_path, empty)
    with pytest.raises(SeedError, match="already holds data"):
        seed_demo(empty)


def test_a_duplicate_community_name_is_refused(tmp_path: Path) -> None:
    levels = changed(county(), "communities", EAST, name="西苑社区")
    report = check(tmp_path, levels)
    assert report.errors[0].line() == (
        f"ERROR    communities:{EAST}  DUPLICATE_NAME  community {WEST} has the name 西苑社区")
    # Its cells and compound lose their parent, and its part of the zone is a gap.
    assert {f.kind for f in report.errors[1:]} == {"UNKNOWN_PARENT", "GAP"}


def test_a_rule_only_the_database_knows_is_reported_and_nothing_written(
        tmp_path: Path, empty: str, target: psycopg.Connection) -> None:
    target.execute("ALTER TABLE compounds ADD CONSTRAINT test_few CHECK (households < 100)")
    try:
        report = run(tmp_path, empty)
    finally:
        target.execute("ALTER TABLE compounds DROP CONSTRAINT test_few")
    (error,) = report.errors
    assert (error.layer, error.kind) == ("database", "DATABASE_REFUSED")
    assert "test_few" in error.message
    assert not report.written and set(counts(target).values()) == {0}
