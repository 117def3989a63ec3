"""Demo service records of building heads 楼栋长 (2023 and the first half of 2024) and the
performance-bond 履约保证金 ledger: a deposit per contract at its start, and 阳光社区's
5,000-yuan drawdown to repair a heating pipe before the 2023 heating season.

Most building heads take part at least 5 times in a period; a minority fall short, and some
miss 2 or 3 call-ups in a row, so the compliance check has talks to flag.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from db.demo.timeline import Timeline
from db.duty import assess
from db.vocabulary import SHANGHAI, TIME_ZONE

# (start, end, participations of a member who complies) per period.
PERIODS = ((date(2023, 1, 1), date(2024, 1, 1), (6, 11)),
           (date(2024, 1, 1), date(2024, 7, 1), (5, 7)))
LOW_SHARE = 0.08  # fewer than 5 participations
LAPSING_SHARE = 0.06  # 2 or 3 missed call-ups in a row
TICKET_SHARE = 0.3  # participations spent helping with a recent ticket of the compound
TICKET_LOOKBACK = timedelta(days=20)
ACTIVITIES = ("楼道清扫", "政策宣传", "敲门行动入户走访", "万市大集志愿服务", "文明劝导",
              "邻里矛盾调解", "四位一体联席会议")
RECORDER = "demo-seed"
SUMMONED_COMPANIES, SUMMONED_UNITS = 8, 9  # the account's summonses 约谈
SUMMONS_COMPANY = "物业服务质量排名靠后、群众投诉集中，约谈企业负责人，限期整改"
SUMMONS_UNIT = "诉求办理超时、提级督办多，约谈单位负责人，限期整改"
FINDINGS = 530  # the account: 530 problems found and solved by compound supervisors
FINDING_NOTES = ("消防通道堆放杂物", "楼道灯损坏未修", "电梯维保记录未公示", "绿化带垃圾未清理",
                 "地下车库积水", "单元门禁损坏", "收费标准未公示", "监控设施失效")
# The first period, a whole year, is reported to the members' employers early the next year.
REPORTED = datetime(2024, 1, 10, 9, 0, tzinfo=SHANGHAI)
DRAWDOWN_AT = datetime(2023, 10, 18, 10, 0, tzinfo=SHANGHAI)
DRAWDOWN_AMOUNT = Decimal("5000.00")
DRAWDOWN_REASON = "供暖季前物业公司未及时维修，街道动用履约保证金5000元维修供热管道（阳光社区）"


def _outcomes(rng: random.Random, low: int, high: int) -> list[str]:
    """A member's call-ups in one period, in order: "P" took part, "M" missed."""
    r = rng.random()
    parts = rng.randint(1, 4) if r < LOW_SHARE else rng.randint(low, high)
    gaps: dict[int, int] = {}  # misses before the participation at each index
    singles = rng.sample(range(parts + 1), min(parts + 1, rng.choice((0, 0, 1, 1, 2))))
    for g in singles:
        gaps[g] = 1
    if LOW_SHARE <= r < LOW_SHARE + LAPSING_SHARE:
        gaps[rng.randrange(parts + 1)] = rng.choice((2, 2, 3))
    seq: list[str] = []
    for i in range(parts + 1):
        seq += ["M"] * gaps.get(i, 0)
        if i < parts:
            seq.append("P")
    return seq


def _times(rng: random.Random, start: date, end: date, n: int) -> list[datetime]:
    days = (end - start).days
    first = datetime(start.year, start.month, start.day, tzinfo=SHANGHAI)
    return sorted(first + timedelta(days=rng.randrange(days), hours=rng.uniform(8, 20))
                  for _ in range(n))


class _RecentTickets:
    """Tickets of each compound by creation time, to pick one a volunteer helped with."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.ids: dict[str, list[int]] = defaultdict(list)
        self.times: dict[str, list[datetime]] = defaultdict(list)
        for ticket_id, compound, created in conn.execute(
                "SELECT id, compound_code, created_at FROM tickets "
                "WHERE compound_code IS NOT NULL ORDER BY compound_code, created_at, id"):
            self.ids[compound].append(ticket_id)
            self.times[compound].append(created)

    def pick(self, rng: random.Random, compound: str, at: datetime) -> int | None:
        times = self.times.get(compound, [])
        lo, hi = bisect.bisect_left(times, at - TICKET_LOOKBACK), bisect.bisect_right(times, at)
        return self.ids[compound][rng.randrange(lo, hi)] if hi > lo else None


def _at(timeline: Timeline, moment: datetime) -> datetime:
    """A canonical moment moved by whole years onto `timeline` (periods are calendar years)."""
    day = timeline.shift_years(moment.date())
    return datetime.combine(day, moment.timetz())


def plan_services(conn: psycopg.Connection, rng: random.Random,
                  timeline: Timeline | None = None) -> list[tuple[Any, ...]]:
    """Service rows (volunteer, at, kind, ticket id, note, recorder) of every building head."""
    tickets = _RecentTickets(conn)
    heads = conn.execute("SELECT code, compound_code FROM volunteers "
                         "WHERE role = 'BUILDING_HEAD' ORDER BY code").fetchall()
    rows: list[tuple[Any, ...]] = []
    for code, compound in heads:
        for canonical_start, canonical_end, (low, high) in PERIODS:
            start, end = (timeline or Timeline()).shift_years(canonical_start), \
                (timeline or Timeline()).shift_years(canonical_end)
            seq = _outcomes(rng, low, high)
            for outcome, at in zip(seq, _times(rng, start, end, len(seq))):
                if outcome == "M":
                    rows.append((code, at, "MISSED_CALLUP", None, "未响应召集", RECORDER))
                    continue
                ticket = tickets.pick(rng, compound, at) if rng.random() < TICKET_SHARE else None
                if ticket is not None:
                    rows.append((code, at, "TICKET", ticket, "协助办理工单", RECORDER))
                else:
                    rows.append((code, at, "ACTIVITY", None, rng.choice(ACTIVITIES), RECORDER))
    return rows


_DEPOSITS = f"""
INSERT INTO bond_ledger (contract_id, at, kind, amount, balance_after, reason, actor)
SELECT id, (start_date + time '09:00') AT TIME ZONE '{TIME_ZONE}', 'DEPOSIT', bond_amount,
       bond_amount, '履约保证金缴存：年物业费应收 ' || annual_fee_receivable || ' 元 × '
       || bond_rate, %(actor)s
FROM property_contracts ORDER BY id"""
# The current contract of a compound of 阳光社区, preferring one whose compound reported a
# leaking heating pipe (P22) that year.
_HEATING_PIPE = """
SELECT id, compound_code, ticket_id FROM (
    SELECT pc.id, pc.compound_code,
           (SELECT t.id FROM tickets t
            WHERE t.compound_code = pc.compound_code AND t.item_code = 'P22'
              AND t.created_at >= %(year_start)s AND t.created_at < %(at)s
            ORDER BY t.created_at DESC, t.id DESC LIMIT 1) AS ticket_id
    FROM property_contracts pc
    JOIN compounds k ON k.code = pc.compound_code
    JOIN communities m ON m.code = k.community_code
    WHERE m.name = '阳光社区' AND pc.end_date IS NULL AND pc.start_date <= %(day)s
      AND pc.bond_balance >= %(amount)s
) c
ORDER BY ticket_id IS NULL, compound_code LIMIT 1"""


def seed_bond_ledger(conn: psycopg.Connection, timeline: Timeline | None = None) -> None:
    """A deposit per contract at its start, then 阳光社区's heating-pipe drawdown."""
    conn.execute(_DEPOSITS, {"actor": RECORDER})
    drawdown_at = _at(timeline or Timeline(), DRAWDOWN_AT)
    found = conn.execute(_HEATING_PIPE, {
        "year_start": datetime(drawdown_at.year, 1, 1, tzinfo=SHANGHAI), "at": drawdown_at,
        "day": drawdown_at.date(), "amount": DRAWDOWN_AMOUNT}).fetchone()
    if found is None:
        return
    contract_id, compound_code, ticket_id = found
    row = conn.execute("UPDATE property_contracts SET bond_balance = bond_balance - %s "
                       "WHERE id = %s RETURNING bond_balance",
                       (DRAWDOWN_AMOUNT, contract_id)).fetchone()
    assert row is not None
    conn.execute("INSERT INTO bond_ledger (contract_id, at, kind, amount, balance_after, "
                 "reason, ticket_id, actor) VALUES (%s, %s, 'DRAWDOWN', %s, %s, %s, %s, %s)",
                 (contract_id, drawdown_at, DRAWDOWN_AMOUNT, row[0], DRAWDOWN_REASON,
                  ticket_id, f"street-{compound_code[:9]}"))


def seed_activity(conn: psycopg.Connection, rng_seed: int,
                  timeline: Timeline | None = None) -> dict[str, int]:
    """Writes the demo service records and bond ledger in the caller's transaction; returns
    the row count per table."""
    rows = plan_services(conn, random.Random(rng_seed * 7919 + 17), timeline)
    with conn.cursor() as cur, cur.copy(
            "COPY volunteer_services (volunteer_code, at, kind, ticket_id, note, recorded_by) "
            "FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    seed_bond_ledger(conn, timeline)
    ledger = conn.execute("SELECT count(*) FROM bond_ledger").fetchone()
    return {"volunteer_services": len(rows), "bond_ledger": int(ledger[0]) if ledger else 0,
            "volunteer_year_records": seed_year_records(conn, timeline or Timeline()),
            "supervisor_findings": seed_findings(conn, random.Random(rng_seed * 31 + 7),
                                                 timeline or Timeline()),
            "summons": seed_summons(conn, random.Random(rng_seed * 37 + 3),
                                    timeline or Timeline())}


def seed_summons(conn: psycopg.Connection, rng: random.Random, timeline: Timeline) -> int:
    """The account's summonses 约谈 of the demo's whole year: 8 property companies and 9
    other units (here county departments and utilities)."""
    companies = [r[0] for r in conn.execute(
        "SELECT code FROM units WHERE kind = 'PROPERTY_COMPANY' ORDER BY code")]
    others = [r[0] for r in conn.execute(
        "SELECT code FROM units WHERE code LIKE 'U-%%' AND kind <> 'COUNTY_OFFICE' ORDER BY code")]
    year = timeline.shift_years(PERIODS[0][0]).year
    rows = [(code, SUMMONS_COMPANY) for code in rng.sample(companies, SUMMONED_COMPANIES)]
    rows += [(code, SUMMONS_UNIT) for code in rng.sample(others, SUMMONED_UNITS)]
    with conn.cursor() as cur, cur.copy(
            "COPY summons (unit_code, at, reason, summoned_by) FROM STDIN") as copy:
        for code, reason in rows:
            day = date(year, 1, 1) + timedelta(days=rng.randrange(365))
            copy.write_row((code, datetime(day.year, day.month, day.day, 15, tzinfo=SHANGHAI),
                            reason, "county-office"))
    return len(rows)


def seed_findings(conn: psycopg.Connection, rng: random.Random, timeline: Timeline) -> int:
    """The supervisors' 530 findings (the account's figure) over the demo's history, each
    against the company under contract on the day, each solved within 10 days."""
    supervisors = conn.execute("SELECT code, compound_code FROM volunteers "
                               "WHERE role = 'SUPERVISOR' ORDER BY code").fetchall()
    contracts: dict[str, list[tuple[date, date | None, str]]] = defaultdict(list)
    for compound, start, end, company in conn.execute(
            "SELECT compound_code, start_date, end_date, company_code FROM property_contracts "
            "ORDER BY compound_code, start_date"):
        contracts[compound].append((start, end, company))
    first, last = timeline.month_start(0), timeline.now - timedelta(days=10)
    span = (last - first).total_seconds()
    rows = []
    for n in range(FINDINGS):
        code, compound = supervisors[n % len(supervisors)]
        found = first + timedelta(seconds=rng.uniform(0, span))
        day = found.astimezone(SHANGHAI).date()
        company = next(c for s, e, c in contracts[compound] if s <= day and (e is None or day < e))
        rows.append((code, compound, company, found,
                     found + timedelta(hours=rng.uniform(2, 240)), rng.choice(FINDING_NOTES)))
    with conn.cursor() as cur, cur.copy(
            "COPY supervisor_findings (supervisor_code, compound_code, company_code, found_at, "
            "resolved_at, note) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def seed_year_records(conn: psycopg.Connection, timeline: Timeline) -> int:
    """Reports the building heads' whole demo year to their employers, by the duty rule."""
    start = timeline.shift_years(PERIODS[0][0])
    end = timeline.shift_years(PERIODS[0][1])
    heads = conn.execute(
        """SELECT v.code, v.community_code, v.employer,
                  coalesce(array_agg(s.kind ORDER BY s.at, s.id)
                           FILTER (WHERE s.id IS NOT NULL), '{}') AS kinds
           FROM volunteers v LEFT JOIN volunteer_services s ON s.volunteer_code = v.code
                AND s.at >= %(start)s AND s.at < %(end)s
           WHERE v.role = 'BUILDING_HEAD' GROUP BY v.code ORDER BY v.code""",
        {"start": datetime(start.year, 1, 1, tzinfo=SHANGHAI),
         "end": datetime(end.year, 1, 1, tzinfo=SHANGHAI)}).fetchall()
    reported = _at(timeline, REPORTED)
    with conn.cursor() as cur, cur.copy(
            "COPY volunteer_year_records (volunteer_code, year, community_code, employer, "
            "participations, misses, longest_miss_run, tier, reported_at, reported_by) "
            "FROM STDIN") as copy:
        for code, community, employer, kinds in heads:
            a = assess(kinds)
            copy.write_row((code, start.year, community, employer, a.participations, a.misses,
                            a.longest_miss_run, a.tier, reported, RECORDER))
    return len(heads)
