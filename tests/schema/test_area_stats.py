"""areaStats against hand-built tickets in a month of their own (March 2019, before the demo's
history): volume, on-time rate, handling hours, rating, month-on-month and year-on-year,
channels, top items and months, with Asia/Shanghai day boundaries, exact for planners and
counts under 3 withheld for an officer outside the area's scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from db.vocabulary import CHANNELS
from resolvers.actor import Role
from tests.conftest import GraphQLClient, Minter
from tests.schema.planner_callers import REFUSED, caller_as

SH = timezone(timedelta(hours=8))
COMMUNITY, OTHER = "371329001001", "371329001002"
STATS = """query ($level: Level!, $from: Date!, $to: Date!, $code: String, $zone: Boolean) {
  areaStats(level: $level, from: $from, to: $to, code: $code, byZone: $zone) {
    code name exact tickets resolved onTimeRate meanHandlingHours rated meanRating
    monthOnMonth yearOnYear channels { key tickets share } topItems { key name tickets share }
    months { key tickets } } }"""
MARCH = {"from": "2019-03-01", "to": "2019-03-31"}


def t(day: str, hour: float) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=SH) + timedelta(hours=hour)


# (community, created, due, resolved, rating, channel, item)
TICKETS = [
    (COMMUNITY, t("2019-03-02", 10), t("2019-03-03", 10), t("2019-03-02", 20), 5, "HOTLINE_12345", "P01"),
    (COMMUNITY, t("2019-03-05", 9), t("2019-03-06", 9), t("2019-03-07", 9), 3, "QR_CODE", "P01"),
    (COMMUNITY, t("2019-03-10", 8), t("2019-03-17", 8), None, None, "HOTLINE_12345", "P02"),
    # 23:30 on the last day in Shanghai (15:30 UTC): inside the period.
    (COMMUNITY, t("2019-03-31", 23.5), t("2019-04-01", 23.5), t("2019-04-01", 1.5), None,
     "DOOR_KNOCKING", "P03"),
    # 00:30 on 1 April in Shanghai (still 31 March in UTC): outside.
    (COMMUNITY, t("2019-04-01", 0.5), t("2019-04-02", 0.5), None, None, "QR_CODE", "P04"),
    (COMMUNITY, t("2019-02-11", 9), t("2019-02-12", 9), None, None, "QR_CODE", "P01"),
    (COMMUNITY, t("2019-02-20", 9), t("2019-02-21", 9), None, None, "QR_CODE", "P01"),
    (COMMUNITY, t("2018-03-20", 9), t("2018-03-21", 9), None, None, "QR_CODE", "P01"),
    (OTHER, t("2019-03-15", 9), t("2019-03-16", 9), t("2019-03-15", 12), 4, "ONLINE", "P05"),
    # May: one channel and one item over the threshold, one channel and item under it.
    *((COMMUNITY, t("2019-05-06", h), t("2019-05-07", h), None, None, "HOTLINE_12345", "P06")
      for h in (9, 10, 11)),
    (COMMUNITY, t("2019-05-08", 9), t("2019-05-09", 9), None, None, "QR_CODE", "P07"),
]


@pytest.fixture(scope="module")
def hand_built(db: psycopg.Connection) -> Iterator[None]:
    assert db.execute("SELECT count(*) FROM tickets WHERE created_at < '2019-06-01'").fetchone() == (0,)
    for n, (community, created, due, resolved, rating, channel, item) in enumerate(TICKETS):
        db.execute("""
            INSERT INTO tickets (code, item_code, channel, description, status, geom, cell_code,
                                 community_code, zone_code, street_code, created_at, due_at,
                                 updated_at, resolved_at, rating)
            SELECT %(code)s, %(item)s, %(channel)s, '测试', %(status)s, ST_PointOnSurface(c.geom),
                   c.code, m.code, m.zone_code, m.street_code, %(created)s, %(due)s, %(created)s,
                   %(resolved)s, %(rating)s
            FROM grid_cells c JOIN communities m ON m.code = c.community_code
            WHERE m.code = %(community)s ORDER BY c.code LIMIT 1
        """, {"code": f"TSTAT{n:03d}", "item": item, "channel": channel,
              "status": "RESOLVED" if resolved else "SUBMITTED", "created": created, "due": due,
              "resolved": resolved, "rating": rating, "community": community})
    yield
    db.execute("DELETE FROM tickets WHERE code LIKE 'TSTAT%'")


def test_community_stats_match_the_hand_built_tickets(hand_built: None, gql: GraphQLClient,
                                                      token: Minter) -> None:
    planner = gql.as_(token("PLANNER"))
    rows = planner.data(STATS, {"level": "COMMUNITY", "code": COMMUNITY, **MARCH})["areaStats"]
    assert len(rows) == 1
    s = rows[0]
    assert s["code"] == COMMUNITY and s["exact"] is True
    assert s["tickets"] == 4 and s["resolved"] == 3 and s["rated"] == 2
    assert s["onTimeRate"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["meanHandlingHours"] == pytest.approx((10 + 48 + 2) / 3)
    assert s["meanRating"] == pytest.approx(4.0)
    assert s["monthOnMonth"] == pytest.approx((4 - 2) / 2)
    assert s["yearOnYear"] == pytest.approx((4 - 1) / 1)
    assert s["channels"] == [
        {"key": "HOTLINE_12345", "tickets": 2, "share": 0.5},
        {"key": "DOOR_KNOCKING", "tickets": 1, "share": 0.25},
        {"key": "QR_CODE", "tickets": 1, "share": 0.25},
    ]
    assert [(i["key"], i["tickets"]) for i in s["topItems"]] == [("P01", 2), ("P02", 1), ("P03", 1)]
    assert all(i["name"] for i in s["topItems"])
    assert s["months"] == [{"key": "2019-03", "tickets": 4}]


def test_street_zone_and_county_levels_add_up(hand_built: None, gql: GraphQLClient,
                                              token: Minter) -> None:
    officer = gql.as_(token("COUNTY_OFFICE"))
    streets = officer.data(STATS, {"level": "STREET", **MARCH})["areaStats"]
    assert {s["code"]: s["tickets"] for s in streets} == {"371329001": 5, "371329002": 0}
    zones = officer.data(STATS, {"level": "STREET", "zone": True, **MARCH})["areaStats"]
    assert len(zones) == 5 and sum(z["tickets"] for z in zones) == 5
    county = officer.data(STATS, {"level": "COUNTY", **MARCH})["areaStats"]
    assert [(c["code"], c["tickets"], c["resolved"]) for c in county] == [("371329", 5, 4)]
    everyone = officer.data(STATS, {"level": "COMMUNITY", **MARCH})["areaStats"]
    assert len(everyone) == 43 and sum(c["tickets"] for c in everyone) == 5


def test_rows_outside_the_officers_scope_show_no_count(
        hand_built: None, gql: GraphQLClient, token: Minter) -> None:
    # A community's month beside the ticket tiles' count of every ticket per grid cell (their
    # sum over the community) would give its withheld months: outside the officer's exact
    # counts nothing of the month is shown, 4 tickets no more than 1 (test_differencing.py).
    outside = gql.as_(token("STREET_OFFICER", "371329002"))
    rows = {s["code"]: s for s in outside.data(STATS, {"level": "COMMUNITY", **MARCH})["areaStats"]}
    mine, other = rows[COMMUNITY], rows[OTHER]
    assert mine["exact"] is False and mine["tickets"] is None
    # Every channel is listed, withheld alike, in the order of its key
    assert mine["channels"] == [{"key": c, "tickets": None, "share": None} for c in sorted(CHANNELS)]
    assert mine["topItems"] == []
    assert mine["months"] == [{"key": "2019-03", "tickets": None}]
    assert other["tickets"] is None and other["meanRating"] is None
    inside = gql.as_(token("STREET_OFFICER", "371329001"))
    row = inside.data(STATS, {"level": "COMMUNITY", "code": OTHER, **MARCH})["areaStats"][0]
    assert row["exact"] is True and row["tickets"] == 1 and row["meanRating"] == 4.0


def test_a_withheld_count_looks_the_same_for_0_and_1(hand_built: None, gql: GraphQLClient,
                                                     token: Minter) -> None:
    outside = gql.as_(token("STREET_OFFICER", "371329002"))
    may = outside.data(STATS, {"level": "COMMUNITY", "code": COMMUNITY, "from": "2019-05-01",
                               "to": "2019-05-31"})["areaStats"][0]
    assert may["exact"] is False and may["tickets"] is None
    channels = {c["key"]: c for c in may["channels"]}
    assert set(channels) == set(CHANNELS)
    # QR_CODE has 1 ticket, ONLINE none: they read the same, and so do HOTLINE_12345's 3 (no
    # count of the month is shown outside the scope); likewise P06's 3 among the items.
    assert channels["QR_CODE"] == {**channels["ONLINE"], "key": "QR_CODE"} == {
        "key": "QR_CODE", "tickets": None, "share": None}
    assert all(c["tickets"] is None for c in may["channels"])
    assert may["topItems"] == []
    exact = gql.as_(token("PLANNER")).data(STATS, {
        "level": "COMMUNITY", "code": COMMUNITY, "from": "2019-05-01", "to": "2019-05-31"})
    seen = exact["areaStats"][0]
    assert {c["key"]: c["tickets"] for c in seen["channels"]}["HOTLINE_12345"] == 3
    assert [(i["key"], i["tickets"]) for i in seen["topItems"]][:2] == [("P06", 3), ("P07", 1)]
    # January has no ticket, February 2: both withheld, each asked as its one month
    for first, last, key in (("2019-01-01", "2019-01-31", "2019-01"),
                             ("2019-02-01", "2019-02-28", "2019-02")):
        month = outside.data(STATS, {"level": "COMMUNITY", "code": COMMUNITY, "from": first,
                                     "to": last})["areaStats"][0]
        assert month["months"] == [{"key": key, "tickets": None}]
    planner = gql.as_(token("PLANNER")).data(STATS, {
        "level": "COMMUNITY", "code": COMMUNITY, "from": "2019-01-01", "to": "2019-02-28"})
    assert planner["areaStats"][0]["months"] == [{"key": "2019-01", "tickets": 0},
                                                 {"key": "2019-02", "tickets": 2}]


@pytest.mark.parametrize(("variables", "code", "field"), [
    ({"level": "COMMUNITY", "from": "2019-04-01", "to": "2019-03-01"}, "BAD_USER_INPUT", "from"),
    ({"level": "COMMUNITY", "from": "2010-01-01", "to": "2019-03-01"}, "BAD_USER_INPUT", "to"),
    ({"level": "COMMUNITY", "zone": True, **MARCH}, "BAD_USER_INPUT", "byZone"),
    # Comparisons a year back from year 1, days after 9999-12-31 (found by fuzzing).
    ({"level": "COUNTY", "from": "0001-01-01", "to": "0001-01-01"}, "BAD_USER_INPUT", "from"),
    ({"level": "COUNTY", "from": "9999-12-31", "to": "9999-12-31"}, "BAD_USER_INPUT", "from"),
    ({"level": "COMMUNITY", "code": "999", **MARCH}, "NOT_FOUND", "code"),
])
def test_bad_input(gql: GraphQLClient, token: Minter, variables: dict[str, object], code: str,
                   field: str) -> None:
    error = gql.as_(token("PLANNER")).error(STATS, variables)
    assert error["extensions"]["code"] == code and error["extensions"]["field"] == field


@pytest.mark.parametrize("role", REFUSED)
def test_others_are_forbidden(gql: GraphQLClient, token: Minter, role: Role) -> None:
    error = caller_as(gql, token, role).error(STATS, {"level": "COMMUNITY", **MARCH})
    assert error["extensions"]["code"] == "FORBIDDEN"
