"""The province layout of docs/scaling.md: tickets and events partitioned by county and month.

On a database of its own, 3 counties × 12 months and 120,000 tickets: a query for one county
and a period scans only that county's months (partition pruning, read back from EXPLAIN), the
nearest open tickets of a county come from its partitions' GiST indexes, and the unique key
holds the partition keys. bench/partitioning.py runs the same layout at 10,000,000 tickets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from db.urls import psycopg_conninfo
from tests.conftest import create_database, drop_database
from web.settings import Settings

DDL = Path(__file__).resolve().parents[2] / "docs" / "scaling" / "partitioned_tickets.sql"
COUNTIES = ("371329", "371321", "371322")
MONTHS = 12
PER_COUNTY = 40_000
LOAD = """
INSERT INTO province_tickets (county_code, code, status, item_code, cell_code, created_at, geom,
                              geom_metric)
SELECT %(county)s::text, 'T' || %(county)s::text || '-' || g, (ARRAY['SUBMITTED','DISPATCHED','IN_PROGRESS',
        'RESOLVED','CLOSED'])[1 + g %% 5], 'P' || lpad((1 + g %% 46)::text, 2, '0'),
       %(county)s::text || lpad((g %% 999)::text, 9, '0'),
       '2024-01-01'::timestamptz + (g %% 365) * interval '1 day' + (g %% 86400) * interval '1 s',
       p, ST_Transform(p, 4549)
FROM generate_series(1, %(n)s) g,
     LATERAL (SELECT ST_SetSRID(ST_MakePoint(%(lon)s + (g %% 1000) * 1e-4,
                                             %(lat)s + (g / 1000 %% 1000) * 1e-4), 4326) AS p) x
"""


def plan(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    doc: dict[str, Any] = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]
    return doc


def scanned(node: dict[str, Any], key: str = "Relation Name") -> set[str]:
    """The partitions (relations) a plan reads, or with `key="Index Name"` its indexes."""
    found = {node[key]} if key in node else set()
    for child in node.get("Plans", []):
        found |= scanned(child, key)
    return found


@pytest.fixture(scope="module")
def province(base_settings: Settings) -> Iterator[psycopg.Connection]:
    name = "redgrid_test_province"
    s = create_database(base_settings, name)
    try:
        with psycopg.connect(psycopg_conninfo(s.database_url), autocommit=True) as conn:
            conn.execute(DDL.read_text(encoding="utf-8"))
            for i, county in enumerate(COUNTIES):
                conn.execute("SELECT create_county_partitions(%s, '2024-01-01', %s)",
                             (county, MONTHS))
                conn.execute(LOAD, {"county": county, "n": PER_COUNTY, "lon": 118.5 + i,
                                    "lat": 34.8})
            conn.execute("ANALYZE province_tickets")
            yield conn
    finally:
        drop_database(base_settings, name)


def test_a_county_and_a_period_read_only_their_partitions(province: psycopg.Connection) -> None:
    sql = ("SELECT count(*) FROM province_tickets WHERE county_code = %(c)s "
           "AND created_at >= %(f)s AND created_at < %(t)s")
    params = {"c": "371329", "f": "2024-03-01", "t": "2024-05-01"}
    assert scanned(plan(province, sql, params)["Plan"]) == {
        "tickets_371329_202403", "tickets_371329_202404"}
    total = province.execute("SELECT count(*) FROM province_tickets").fetchone()
    assert total == (PER_COUNTY * len(COUNTIES),)
    partitions = province.execute(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE c.relname LIKE 'tickets\\_______\\_______'").fetchone()
    assert partitions == (len(COUNTIES) * MONTHS,)


def test_nearest_open_tickets_of_a_county_use_its_partitions_indexes(
        province: psycopg.Connection) -> None:
    sql = """SELECT code FROM province_tickets
             WHERE county_code = %(c)s AND status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS')
             ORDER BY geom_metric <-> ST_Transform(ST_SetSRID(ST_MakePoint(118.55, 34.85),
                                                              4326), 4549)
             LIMIT 20"""
    doc = plan(province, sql, {"c": "371329"})
    partitions = scanned(doc["Plan"])
    assert len(partitions) == MONTHS and all(p.startswith("tickets_371329_") for p in partitions)
    indexes = scanned(doc["Plan"], "Index Name")
    assert len(indexes) == MONTHS and all("geom_metric" in i for i in indexes), indexes
    assert '"Node Type": "Seq Scan"' not in json.dumps(doc)
    rows = province.execute(sql, {"c": "371329"}).fetchall()
    assert len(rows) == 20


def test_the_unique_key_holds_the_partition_keys(province: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.UniqueViolation):
        province.execute(
            "INSERT INTO province_tickets (county_code, code, status, item_code, cell_code, "
            "created_at, geom, geom_metric) SELECT county_code, code, status, item_code, "
            "cell_code, created_at, geom, geom_metric FROM province_tickets "
            "WHERE county_code = '371321' LIMIT 1")
