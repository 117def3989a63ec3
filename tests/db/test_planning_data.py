"""The planning attributes of the demo: resident mix, station kinds by that mix, capacity,
operator, service-room status, and the metric demand points."""

from __future__ import annotations

from collections import Counter

import psycopg

from db.demo.services import (
    CHILDREN_HEAVY,
    ELDERLY_HEAVY,
    PARTY_HUB_POPULATION,
    STATION_COUNT,
    STATION_KINDS,
    YOUNG_ELDERLY,
)


def test_resident_mix_is_realistic(db: psycopg.Connection) -> None:
    pop, elderly, children = db.execute(
        "SELECT sum(population), sum(elderly), sum(children) FROM compounds").fetchone()  # type: ignore[misc]
    assert 0.18 <= elderly / pop <= 0.22
    assert 0.13 <= children / pop <= 0.17
    assert db.execute("SELECT count(*) FROM compounds WHERE elderly = 0 OR children = 0 "
                      "OR elderly + children >= population").fetchone() == (0,)


def test_older_compounds_are_older(db: psycopg.Connection) -> None:
    # The share of households in six-storey walk-ups (the older stock) against the share 60+.
    corr = db.execute("""
        SELECT corr(o.old_share, c.elderly::float / c.population)
        FROM compounds c JOIN (
            SELECT compound_code,
                   sum(households) FILTER (WHERE floors = 6)::float / sum(households) AS old_share
            FROM buildings GROUP BY compound_code) o ON o.compound_code = c.code
    """).fetchone()[0]  # type: ignore[index]
    assert corr > 0.5


def test_station_kinds_follow_the_resident_mix(db: psycopg.Connection) -> None:
    rows = db.execute("""
        SELECT f.subtype, c.elderly::float / c.population AS e,
               c.children::float / c.population AS k, c.population, c.households,
               (SELECT coalesce(sum(b.households), 0) FROM buildings b
                WHERE b.compound_code = c.code AND b.floors >= 18) AS high_rise
        FROM facilities f JOIN compounds c ON c.code = f.compound_code WHERE f.kind = 'STATION'
    """).fetchall()
    assert len(rows) == STATION_COUNT

    def by_mix(elderly: float, children: float, population: int, households: int,
               high_rise: int) -> str:
        if elderly >= ELDERLY_HEAVY:
            return "助老"
        if children >= CHILDREN_HEAVY:
            return "儿童之家"
        if elderly < YOUNG_ELDERLY and high_rise * 2 > households:
            return "骑士爱心"
        return "党群服务" if population >= PARTY_HUB_POPULATION else "志愿服务"

    assert [r[0] for r in rows] == [by_mix(*r[1:]) for r in rows]
    kinds = Counter(r[0] for r in rows)
    assert set(kinds) == set(STATION_KINDS) and min(kinds.values()) >= 10
    # Elderly-help stations sit where the elderly share is highest, not round-robin.
    mean = {k: sum(e for s, e, *_ in rows if s == k) / n for k, n in kinds.items()}
    assert mean["助老"] == max(mean.values())


def test_facilities_have_capacity_and_operator(db: psycopg.Connection) -> None:
    assert db.execute("SELECT count(*) FROM facilities WHERE capacity IS NULL OR operator IS NULL"
                      ).fetchone() == (0,)
    rooms = dict(db.execute("SELECT status, count(*) FROM facilities WHERE kind = 'SERVICE_ROOM' "
                            "GROUP BY status").fetchall())
    assert set(rooms) == {"IDLE", "IN_USE", "RENTED"}
    assert db.execute("SELECT count(*) FROM facilities WHERE kind <> 'SERVICE_ROOM' "
                      "AND status IS NOT NULL").fetchone() == (0,)
    with psycopg.connect(db.info.dsn) as conn:
        try:
            conn.execute("UPDATE facilities SET status = 'IDLE' WHERE kind = 'STATION'")
        except psycopg.errors.CheckViolation:
            conn.rollback()
        else:
            raise AssertionError("a station was given a service-room status")


def test_demand_points_are_inside_their_compounds_in_metres(db: psycopg.Connection) -> None:
    off = db.execute("""
        SELECT count(*) FROM compounds
        WHERE NOT ST_Equals(center_metric, ST_Transform(ST_PointOnSurface(geom), 4549))
           OR NOT ST_Contains(ST_Transform(geom, 4549), center_metric)
    """).fetchone()
    assert off == (0,)
    assert db.execute("SELECT count(*) FROM facilities WHERE NOT ST_Equals(geom_metric, "
                      "ST_Transform(geom, 4549))").fetchone() == (0,)
