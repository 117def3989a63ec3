"""The demo's patrol visits: most cells walked most weeks, a few neglected, and every proactive
ticket (未诉先办) of the window found on a visit; deterministic on a stream of their own."""

from __future__ import annotations

import random
from datetime import date, datetime

import psycopg

from db.demo.patrols import WEEKS, plan_patrols, weeks
from db.demo.places import plan_places
from db.demo.timeline import Timeline
from db.seed import CENTRE, DEFAULT_SEED
from db.vocabulary import SHANGHAI
from tests.conftest import DEMO_AS_OF

WINDOW_END = datetime(2024, 7, 1, tzinfo=SHANGHAI)  # the end of the tests' as-of day
WINDOW_START = datetime(2024, 5, 6, tzinfo=SHANGHAI)  # the Monday 8 weeks back


def test_the_window_is_the_eight_weeks_up_to_the_as_of_day() -> None:
    mondays = weeks(Timeline(DEMO_AS_OF))
    assert len(mondays) == WEEKS and mondays[0] == WINDOW_START.date()
    assert mondays[-1] == date(2024, 6, 24) and all(m.weekday() == 0 for m in mondays)


def test_most_cells_are_walked_most_weeks_and_a_few_are_neglected(
        db: psycopg.Connection) -> None:
    rows = db.execute(
        "SELECT g.code, count(DISTINCT date_trunc('week', v.at AT TIME ZONE 'Asia/Shanghai')) "
        "FROM grid_cells g LEFT JOIN patrol_visits v ON v.cell_code = g.code "
        "AND v.at >= %(s)s AND v.at < %(e)s GROUP BY g.code",
        {"s": WINDOW_START, "e": WINDOW_END}).fetchall()
    weeks_walked = [n for _, n in rows]
    assert len(weeks_walked) == 429
    assert sum(n >= WEEKS - 2 for n in weeks_walked) > 0.7 * len(weeks_walked)
    assert 5 <= sum(n <= 3 for n in weeks_walked) <= 0.2 * len(weeks_walked)
    before = db.execute("SELECT count(*) FROM patrol_visits WHERE at < %s",
                        (WINDOW_START,)).fetchone()
    assert before == (0,)


def test_visits_stand_in_their_building_and_cell(db: psycopg.Connection) -> None:
    stray = db.execute(
        "SELECT count(*) FROM patrol_visits v JOIN grid_cells g ON g.code = v.cell_code "
        "LEFT JOIN buildings b ON b.code = v.building_code WHERE v.at < %s AND ("
        "NOT ST_Intersects(g.geom, v.geom) OR (b.code IS NOT NULL AND "
        "(NOT ST_Intersects(b.geom, v.geom) OR b.cell_code <> v.cell_code)))",
        (WINDOW_END,)).fetchone()
    assert stray == (0,)


def test_every_proactive_ticket_of_the_window_was_found_on_a_visit(
        db: psycopg.Connection) -> None:
    tickets = db.execute(
        "SELECT t.id, t.cell_code, t.created_at, t.description FROM tickets t "
        "WHERE t.channel IN ('GRID_PATROL', 'SUPERVISOR') AND t.created_at >= %s "
        "AND t.created_at < %s ORDER BY t.id",
        (WINDOW_START.replace(hour=1), WINDOW_END)).fetchall()
    visits = {r[0]: r[1:] for r in db.execute(
        "SELECT ticket_id, cell_code, at, findings FROM patrol_visits "
        "WHERE ticket_id IS NOT NULL AND at < %s", (WINDOW_END,)).fetchall()}
    assert len(tickets) > 50
    assert set(visits) == {t[0] for t in tickets}
    for ticket_id, cell, created, description in tickets:
        v_cell, at, findings = visits[ticket_id]
        assert v_cell == cell and at < created and findings == description


def test_the_plan_is_deterministic() -> None:
    places = plan_places(DEFAULT_SEED)
    timeline = Timeline(DEMO_AS_OF)

    def plan() -> list[object]:
        return list(plan_patrols(random.Random(DEFAULT_SEED * 31 + 100), places, CENTRE,
                                 timeline, []))

    first = plan()
    assert first == plan() and len(first) > 5000
