"""The demo dataset has the county's published numbers and a clean spatial structure."""

from __future__ import annotations

import re
from datetime import date

import psycopg
import pytest

from db.demo.places import plan_places
from db.seed import DEFAULT_SEED


def one(db: psycopg.Connection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT count(*) FROM streets", 2),
    ("SELECT count(*) FROM zones", 5),
    ("SELECT count(*) FROM communities", 43),
    ("SELECT count(*) FROM compounds", 230),
    ("SELECT count(*) FROM buildings", 2266),
    ("SELECT count(*) FROM facilities WHERE kind = 'STATION'", 125),
    ("SELECT count(*) FROM facilities WHERE kind = 'CANTEEN'", 10),
    ("SELECT count(*) FROM volunteers WHERE role = 'RED_COLLAR_SECRETARY'", 19),
    ("SELECT count(*) FROM volunteers WHERE role = 'SUPERVISOR'", 110),
    ("SELECT count(*) FROM demand_items", 46),
    ("SELECT count(*) FROM demand_categories", 5),
    ("SELECT count(DISTINCT mode) FROM (SELECT subtype AS mode FROM facilities "
     "WHERE kind = 'CANTEEN') m", 3),
    ("SELECT value FROM dataset_info WHERE key = 'synthetic'", "true"),
])
def test_counts(db: psycopg.Connection, sql: str, expected: object) -> None:
    assert one(db, sql) == expected


def test_every_building_has_one_building_head(db: psycopg.Connection) -> None:
    assert one(db, """
        SELECT count(*) FROM buildings b
        WHERE (SELECT count(*) FROM volunteers v
               WHERE v.building_code = b.code AND v.role = 'BUILDING_HEAD') <> 1""") == 0


def test_clinics_about_one_per_three_to_four_communities(db: psycopg.Connection) -> None:
    clinics = one(db, "SELECT count(*) FROM facilities WHERE kind = 'CLINIC'")
    assert 43 / 4 <= clinics <= 43 / 3  # type: ignore[operator]


def test_cells_hold_300_to_500_households_and_sum_to_their_community(db: psycopg.Connection) -> None:
    assert one(db, "SELECT count(*) FROM grid_cells WHERE households NOT BETWEEN 300 AND 500") == 0
    assert one(db, """
        SELECT count(*) FROM communities m
        WHERE m.households <> (SELECT sum(households) FROM grid_cells c
                               WHERE c.community_code = m.code)""") == 0


def test_codes_follow_gb_t_30428(db: psycopg.Connection) -> None:
    rows = db.execute("SELECT c.code, c.community_code, m.street_code FROM grid_cells c "
                      "JOIN communities m ON m.code = c.community_code").fetchall()
    for cell, community, street in rows:
        assert re.fullmatch(r"371329\d{9}", cell)
        assert cell[:12] == community and community[:9] == street


# Square metres per square degree here: partitions are exact in lon/lat (planar edges), so
# their areas are compared there; geodesic areas would differ by the edges' curvature.
M2_PER_DEG2 = 91_290 * 110_940


def test_cells_partition_each_community_without_gaps_or_overlaps(db: psycopg.Connection) -> None:
    gaps = db.execute("""
        SELECT m.code, ST_Area(ST_SymDifference(m.geom, ST_Union(c.geom))),
               ST_Area(m.geom) - sum(ST_Area(c.geom))
        FROM communities m JOIN grid_cells c ON c.community_code = m.code
        GROUP BY m.code, m.geom""").fetchall()
    assert len(gaps) == 43
    for code, sym_diff, sum_gap in gaps:
        assert sym_diff * M2_PER_DEG2 < 0.01 and abs(sum_gap) * M2_PER_DEG2 < 0.01, code
    overlap = one(db, """
        SELECT coalesce(max(ST_Area(ST_Intersection(a.geom, b.geom))), 0)
        FROM grid_cells a JOIN grid_cells b ON a.code < b.code AND a.geom && b.geom
        AND ST_Intersects(a.geom, b.geom)""")
    assert overlap * M2_PER_DEG2 < 0.01  # type: ignore[operator]


def test_communities_tile_the_urban_area(db: psycopg.Connection) -> None:
    union = one(db, "SELECT ST_Area(ST_Union(geom)) FROM communities")
    total = one(db, "SELECT sum(ST_Area(geom)) FROM communities")
    assert abs(union - total) * M2_PER_DEG2 < 0.01  # type: ignore[operator]
    assert 40e6 < total * M2_PER_DEG2 < 60e6  # type: ignore[operator]  # about 8 x 7 km


def test_zones_lie_within_one_street_3_and_2(db: psycopg.Connection) -> None:
    rows = db.execute("""
        SELECT z.street_code, count(DISTINCT z.code), bool_and(m.street_code = z.street_code)
        FROM zones z JOIN communities m ON m.zone_code = z.code GROUP BY 1 ORDER BY 1""").fetchall()
    assert rows == [("371329001", 3, True), ("371329002", 2, True)]


def test_compounds_and_buildings_nest(db: psycopg.Connection) -> None:
    assert one(db, """SELECT count(*) FROM compounds k JOIN communities m
                      ON m.code = k.community_code WHERE NOT ST_Within(k.geom, m.geom)""") == 0
    assert one(db, """SELECT count(*) FROM buildings b JOIN compounds k
                      ON k.code = b.compound_code WHERE NOT ST_Within(b.geom, k.geom)""") == 0
    names = {r[0] for r in db.execute("SELECT name FROM compounds").fetchall()}
    assert {"翡翠星城", "瓯龙现代城", "华丰现代城"} <= names
    assert one(db, """SELECT m.name FROM compounds k JOIN communities m
                      ON m.code = k.community_code WHERE k.name = '瓯龙现代城'""") == "平安社区"


def test_historical_tickets(db: psycopg.Connection) -> None:
    assert one(db, """SELECT count(*) FROM tickets WHERE created_at >= '2023-01-01T00:00+08'
                      AND created_at < '2024-07-01T00:00+08'""") >= 8000  # type: ignore[operator]
    assert one(db, "SELECT count(*) FROM tickets t WHERE NOT EXISTS "
                   "(SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id)") == 0
    assert one(db, "SELECT count(*) FROM tickets WHERE unit_code IS NULL") == 0


def test_huafeng_monthly_tickets_fall_from_26_to_8(db: psycopg.Connection) -> None:
    before, after = db.execute("""
        SELECT count(*) FILTER (WHERE t.created_at < '2023-09-01T00:00+08') / 8.0,
               count(*) FILTER (WHERE t.created_at >= '2023-09-01T00:00+08') / 10.0
        FROM tickets t JOIN compounds k ON k.code = t.compound_code
        WHERE k.name = '华丰现代城' AND t.created_at < '2024-07-01T00:00+08'""").fetchone()  # type: ignore[misc]
    assert (float(before), float(after)) == (26.0, 8.0)


def test_huafeng_keeps_its_company_and_replaces_its_manager(db: psycopg.Connection) -> None:
    contracts = db.execute("""
        SELECT pc.company_code, pc.manager_name, pc.start_date, pc.end_date
        FROM property_contracts pc JOIN compounds k ON k.code = pc.compound_code
        WHERE k.name = '华丰现代城' ORDER BY pc.start_date""").fetchall()
    (old_company, old_manager, _, ended), (company, manager, started, end) = contracts
    assert company == old_company and manager != old_manager
    assert ended == started == date(2023, 9, 1) and end is None
    # Its tickets are led by the same company before and after the replacement (the demo's:
    # tests file and escalate tickets of their own there).
    leads = db.execute("""
        SELECT DISTINCT t.unit_code FROM tickets t JOIN compounds k ON k.code = t.compound_code
        JOIN demand_items i ON i.code = t.item_code
        WHERE k.name = '华丰现代城' AND i.lead_unit_kind = 'PROPERTY_COMPANY'
          AND t.created_at < '2024-07-01T00:00+08'""").fetchall()
    assert leads == [(company,)]


def test_generator_is_deterministic() -> None:
    a, b = plan_places(DEFAULT_SEED), plan_places(DEFAULT_SEED)
    assert [c.polygon.wkb for c in a.cells] == [c.polygon.wkb for c in b.cells]
    assert [c.name for c in a.compounds] == [c.name for c in b.compounds]
    other = plan_places(DEFAULT_SEED + 1)
    assert [c.polygon.wkb for c in other.communities] != [c.polygon.wkb for c in a.communities]
