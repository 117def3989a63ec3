"""A demo seeded as of another day is alive on that day: history up to it, an open backlog in
every community that is mostly not yet due, and the account's figures in the window that ends
there. The day is fixed, so the test is deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import psycopg
import pytest
from starlette.testclient import TestClient

from db.catalogue import DEADLINES
from db.demo.timeline import SHANGHAI, Timeline
from db.urls import psycopg_conninfo
from tests.conftest import TEST_DB, demo_database, drop_database
from web.app import create_app
from web.settings import Settings

AS_OF = date(2025, 3, 12)  # mid-month: the last month is partial
END = datetime(2025, 3, 13, tzinfo=SHANGHAI)  # the end of the as-of day
OPEN = ("SUBMITTED", "DISPATCHED", "IN_PROGRESS")


@pytest.fixture(scope="module")
def later(base_settings: Settings) -> Iterator[Settings]:
    name = f"{TEST_DB}_as_of"
    # No background jobs: the map test's server must not move tickets along (the SLA job
    # would), or the seed's determinism below could not be compared.
    yield demo_database(base_settings, name, AS_OF)
    drop_database(base_settings, name)


@pytest.fixture(scope="module")
def conn(later: Settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(psycopg_conninfo(later.database_url), autocommit=True) as c:
        yield c


def test_history_ends_on_the_as_of_day(conn: psycopg.Connection) -> None:
    first, last, total = conn.execute(
        "SELECT min(created_at), max(created_at), count(*) FROM tickets").fetchone()  # type: ignore[misc]
    assert datetime(2023, 10, 1, tzinfo=SHANGHAI) <= first < datetime(2023, 11, 1, tzinfo=SHANGHAI)
    assert END - timedelta(days=1) <= last < END
    assert total >= 8000
    latest_event = conn.execute("SELECT max(at) FROM ticket_events").fetchone()
    assert latest_event is not None and latest_event[0] < END
    info = dict(conn.execute("SELECT key, value FROM dataset_info").fetchall())
    assert (info["as_of"], info["first_month"], info["last_month"]) == (
        "2025-03-12", "2023-10", "2025-03")


def test_open_tickets_in_every_community_none_overdue_beyond_its_deadline(
        conn: psycopg.Connection) -> None:
    per_community = dict(conn.execute(
        "SELECT c.code, count(t.id) FILTER (WHERE t.status = ANY(%s)) FROM communities c "
        "LEFT JOIN tickets t ON t.community_code = c.code GROUP BY 1", (list(OPEN),)).fetchall())
    assert len(per_community) == 43 and min(per_community.values()) >= 1
    rows = conn.execute("SELECT t.due_at, i.deadline_class, t.cell_code FROM tickets t "
                        "JOIN demand_items i ON i.code = t.item_code WHERE t.status = ANY(%s)",
                        (list(OPEN),)).fetchall()
    overdue = [(due, cls) for due, cls, _ in rows if due < END]
    assert all(END - due <= DEADLINES[cls] for due, cls in overdue)
    assert len(overdue) <= 0.1 * len(rows)  # due times mostly in the future
    assert len({cell for _, _, cell in rows}) >= 100  # spread over the cells


def test_the_accounts_figures_hold_in_the_window_ending_on_the_as_of_day(
        conn: psycopg.Connection) -> None:
    timeline = Timeline(AS_OF)
    replaced = timeline.month_start(8)
    months = dict(conn.execute(
        "SELECT to_char(t.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), count(*) "
        "FROM tickets t JOIN compounds k ON k.code = t.compound_code "
        "WHERE k.name = '华丰现代城' GROUP BY 1").fetchall())
    before = [n for m, n in months.items() if m < f"{replaced:%Y-%m}"]
    after = [n for m, n in months.items() if f"{replaced:%Y-%m}" <= m < "2025-03"]
    assert (len(before), sum(before) / 8) == (8, 26.0)
    assert (len(after), sum(after) / 9) == (9, 72 / 9)  # 8 a month, the 10th month partial
    assert 0 < months["2025-03"] <= 8
    contract = conn.execute(
        "SELECT pc.start_date FROM property_contracts pc JOIN compounds k "
        "ON k.code = pc.compound_code WHERE k.name = '华丰现代城' AND pc.end_date IS NULL"
    ).fetchone()
    assert contract == (replaced.date(),)


def test_the_map_steps_through_the_datas_months(later: Settings) -> None:
    with TestClient(create_app(later), client=("127.0.0.1", 50000)) as client:
        months = client.get("/map-config.json").json()["months"]
    assert (len(months), months[0], months[-1]) == (18, "2023-10", "2025-03")


def test_the_same_seed_and_day_give_the_same_demo(conn: psycopg.Connection,
                                                 base_settings: Settings) -> None:
    name = f"{TEST_DB}_as_of_again"
    try:
        s = demo_database(base_settings, name, AS_OF)
        digest = ("SELECT md5(string_agg(code || status || created_at::text || due_at::text, ',' "
                  "ORDER BY id)) FROM tickets")
        with psycopg.connect(psycopg_conninfo(s.database_url)) as again:
            assert again.execute(digest).fetchone() == conn.execute(digest).fetchone()
    finally:
        drop_database(base_settings, name)
