"""Property performance: 华丰现代城's monthly drop, the ranking and its bottom, and the
performance bond 履约保证金 ledger (arithmetic, overdraws refused, concurrent drawdowns)."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import namedtuple_row

from tests.conftest import GraphQLClient, Minter

MONTHLY = """query ($code: String!, $from: String!, $to: String!) {
  compoundMonthlyTickets(compoundCode: $code, from: $from, to: $to) {
    month tickets perHundredHouseholds withheld } }"""
RANKING = """query ($year: Int, $from: String, $to: String) {
  propertyRanking(year: $year, from: $from, to: $to) { start end
    companies { ranked { ...s } bottom { ...s } } managers { ranked { ...s } bottom { ...s } } } }
fragment s on PropertyStanding { rank company { code kind } managerName compounds householdMonths
  tickets ticketsPerHundredHouseholdsPerMonth ratedTickets averageRating }"""
BOND_FIELDS = """contractId managerName startDate endDate annualFeeReceivable rate amount balance
  reconciled compound { code } company { code }
  entries { id at kind amount balanceAfter reason ticketCode actor }"""
LEDGER = f"query ($id: Int!) {{ bondLedger(contractId: $id) {{ {BOND_FIELDS} }} }}"
COMPOUND_BONDS = f"query ($code: String!) {{ compoundBonds(compoundCode: $code) {{ {BOND_FIELDS} }} }}"
DRAW = f"""mutation ($input: DrawBondInput!) {{ drawBond(input: $input) {{
  bond {{ {BOND_FIELDS} }} errors {{ code field message }} }} }}"""
TOP_UP = f"""mutation ($input: TopUpBondInput!) {{ topUpBond(input: $input) {{
  bond {{ {BOND_FIELDS} }} errors {{ code field message }} }} }}"""
YEAR = {"year": 2023}


def contract(db: psycopg.Connection, n: int) -> Any:
    """The n-th current contract by id (id, compound_code, company_code, balance); each test
    takes its own."""
    return db.cursor(row_factory=namedtuple_row).execute(
        "SELECT id, compound_code, company_code, bond_balance AS balance FROM property_contracts "
        "WHERE end_date IS NULL ORDER BY id OFFSET %s LIMIT 1", (n,)).fetchone()


def ledger_rows(db: psycopg.Connection, contract_id: int) -> list[tuple[Any, ...]]:
    return db.execute("SELECT id, kind, amount, balance_after FROM bond_ledger "
                      "WHERE contract_id = %s ORDER BY id", (contract_id,)).fetchall()


def balance(db: psycopg.Connection, contract_id: int) -> Decimal:
    return Decimal(db.execute("SELECT bond_balance FROM property_contracts WHERE id = %s",
                              (contract_id,)).fetchone()[0])  # type: ignore[index]


def totals(db: psycopg.Connection) -> tuple[Any, ...] | None:
    """Ledger entries and the sum of balances, to show nothing was written."""
    return db.execute("SELECT (SELECT count(*) FROM bond_ledger), "
                      "(SELECT sum(bond_balance) FROM property_contracts)").fetchone()


def huafeng(db: psycopg.Connection) -> tuple[str, int]:
    return db.execute("SELECT code, households FROM compounds "  # type: ignore[return-value]
                      "WHERE name = '华丰现代城'").fetchone()


def test_huafeng_monthly_tickets_fall_from_26_to_8(gql: GraphQLClient,
                                                   db: psycopg.Connection) -> None:
    code, households = huafeng(db)
    months = gql.data(MONTHLY, {"code": code, "from": "2023-01", "to": "2024-06"})[
        "compoundMonthlyTickets"]
    assert [m["month"] for m in months][:2] == ["2023-01", "2023-02"] and len(months) == 18
    by_month = {m["month"]: m for m in months}
    assert by_month["2023-08"]["tickets"] == 26 and by_month["2023-09"]["tickets"] == 8
    assert by_month["2023-08"]["perHundredHouseholds"] == round(2600 / households, 2)
    before = [m["tickets"] for m in months if m["month"] < "2023-09"]
    after = [m["tickets"] for m in months if m["month"] >= "2023-09"]
    assert sum(before) / len(before) == 26 and sum(after) / len(after) == 8
    edge = gql.data(MONTHLY, {"code": code, "from": "2022-12", "to": "2023-01"})
    # An empty month is withheld from the public like a month of 1 or 2 tickets.
    assert [(m["month"], m["tickets"], m["withheld"])
            for m in edge["compoundMonthlyTickets"]] == [("2022-12", None, True),
                                                        ("2023-01", 24, False)]


def test_monthly_tickets_under_3_are_exact_only_for_planners_and_scoped_staff(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    row = db.execute(
        "SELECT compound_code, to_char(created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS m, "
        "count(*) FROM tickets WHERE compound_code IS NOT NULL GROUP BY 1, 2 "
        "HAVING count(*) IN (1, 2) ORDER BY 1, 2 LIMIT 1").fetchone()
    assert row is not None
    code, month, n = row
    ask = {"code": code, "from": month, "to": month}
    community = code.split("C")[0]
    exact = [gql.as_(token("PLANNER", sub="planner-monthly")),
             gql.as_(token("COMMUNITY_STAFF", community, sub="staff-monthly"))]
    withheld = [gql, gql.as_(token("RESIDENT", sub="resident-monthly")),
                gql.as_(token("COMMUNITY_STAFF", "371329002001" if community != "371329002001"
                              else "371329001001", sub="other-staff-monthly"))]
    for caller in exact:
        [m] = caller.data(MONTHLY, ask)["compoundMonthlyTickets"]
        assert (m["tickets"], m["withheld"]) == (n, False)
    for caller in withheld:
        [m] = caller.data(MONTHLY, ask)["compoundMonthlyTickets"]
        assert (m["tickets"], m["perHundredHouseholds"], m["withheld"]) == (None, None, True)


@pytest.mark.parametrize(("args", "code", "field"), [
    *[(a, "BAD_USER_INPUT", f) for a, f in (({"from": "2023-13"}, "from"), ({"to": "June"}, "to"),
                                             ({"from": "2024-02", "to": "2024-01"}, "from"),
                                             ({"from": "2000-01", "to": "2024-01"}, "to"))],
    ({"code": "371329001010C99"}, "NOT_FOUND", "compoundCode")])
def test_bad_monthly_arguments(gql: GraphQLClient, db: psycopg.Connection,
                               args: dict[str, str], code: str, field: str) -> None:
    ask = {"code": huafeng(db)[0], "from": "2023-01", "to": "2023-12", **args}
    assert gql.error(MONTHLY, ask)["extensions"] == {"code": code, "field": field}


def test_ranking_best_first_with_bottom_over_contracts_in_force(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    r = gql.as_(token("PLANNER")).data(RANKING, YEAR)["propertyRanking"]
    assert (r["start"], r["end"]) == ("2023-01-01", "2024-01-01")
    for standings in (r["companies"], r["managers"]):
        ranked = standings["ranked"]
        rates = [s["ticketsPerHundredHouseholdsPerMonth"] for s in ranked]
        assert rates == sorted(rates) and [s["rank"] for s in ranked] == list(range(1, len(rates) + 1))
        assert standings["bottom"] == ranked[-max(1, math.ceil(len(ranked) / 100)):]
    assert len(r["companies"]["ranked"]) == 25
    assert all(s["company"]["kind"] == "PROPERTY_COMPANY" and s["managerName"] is None
               for s in r["companies"]["ranked"])
    # 华丰现代城's manager until September 2023 is the worst of the year.
    code, households = huafeng(db)
    manager, company = db.execute("SELECT manager_name, company_code FROM property_contracts "
                                  "WHERE compound_code = %s AND end_date IS NOT NULL",
                                  (code,)).fetchone()  # type: ignore[misc]
    worst = r["managers"]["ranked"][-1]
    assert (worst["managerName"], worst["company"]["code"]) == (manager, company)
    assert worst["tickets"] == 208 and worst["compounds"] == 1
    assert worst["householdMonths"] == pytest.approx(households * 243 / (365.2425 / 12), abs=0.01)
    avg = db.execute("""SELECT avg(rating) FROM tickets WHERE compound_code = %s
        AND created_at >= '2023-01-01T00:00+08' AND created_at < '2023-09-01T00:00+08'""",
                     (code,)).fetchone()[0]  # type: ignore[index]
    assert worst["averageRating"] == pytest.approx(float(avg), abs=0.005)
    # By months: the contracts in force then, 华丰现代城's new manager and not the old.
    old, new = db.execute("SELECT manager_name FROM property_contracts WHERE compound_code = %s "
                          "ORDER BY start_date", (code,)).fetchall()
    r = gql.as_(token("COMMUNITY_STAFF", "371329001010")).data(
        RANKING, {"from": "2023-09", "to": "2024-06"})["propertyRanking"]
    assert (r["start"], r["end"]) == ("2023-09-01", "2024-07-01")
    names = {s["managerName"] for s in r["managers"]["ranked"]}
    assert new[0] in names and old[0] not in names
    assert next(s for s in r["managers"]["ranked"] if s["managerName"] == new[0])["tickets"] == 80


@pytest.mark.parametrize(("role", "args", "code", "field"), [
    ("COUNTY_OFFICE", {"year": 2023, "from": "2023-01", "to": "2023-02"}, "BAD_USER_INPUT", "year"),
    *[("COUNTY_OFFICE", a, "BAD_USER_INPUT", "year")
      for a in ({}, {"from": "2023-01"}, {"year": 2999}, {"year": 1999})],
    ("COUNTY_OFFICE", {"from": "2023-00", "to": "2023-02"}, "BAD_USER_INPUT", "from"),
    *[(role, YEAR, "FORBIDDEN", None) for role in (None, "RESIDENT", "UNIT", "GRID_WORKER")],
])
def test_bad_or_forbidden_ranking(gql: GraphQLClient, token: Minter, role: str | None,
                                  args: dict[str, Any], code: str, field: str | None) -> None:
    err = (gql.as_(token(role)) if role else gql).error(RANKING, args)
    assert (err["extensions"]["code"], err["extensions"].get("field")) == (code, field)


def test_demo_ledger_has_deposits_and_yangguangs_heating_pipe(gql: GraphQLClient, token: Minter,
                                               db: psycopg.Connection) -> None:
    contract_id = db.execute("SELECT contract_id FROM bond_ledger WHERE kind = 'DRAWDOWN' "
                             "ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    bond = gql.as_(token("STREET_OFFICER", "371329001")).data(LEDGER, {"id": contract_id})[
        "bondLedger"]
    assert db.execute("SELECT m.name FROM compounds k JOIN communities m ON m.code = "
                      "k.community_code WHERE k.code = %s", (bond["compound"]["code"],)
                      ).fetchone() == ("阳光社区",)
    assert bond["endDate"] is None and bond["reconciled"]
    deposit, draw = bond["entries"][:2]
    assert deposit["kind"] == "DEPOSIT" and Decimal(deposit["amount"]) == Decimal(bond["amount"])
    assert draw["kind"] == "DRAWDOWN" and Decimal(draw["amount"]) == 5000
    assert draw["at"].startswith("2023-10") and "供热管道" in draw["reason"]
    assert Decimal(draw["balanceAfter"]) == Decimal(bond["amount"]) - 5000
    assert db.execute("SELECT item_code, compound_code FROM tickets WHERE code = %s",
                      (draw["ticketCode"],)).fetchone() == ("P22", bond["compound"]["code"])
    # Every contract has its deposit, and every ledger adds up to its balance.
    off = db.execute("""
        SELECT pc.id FROM property_contracts pc JOIN bond_ledger b ON b.contract_id = pc.id
        GROUP BY pc.id, pc.bond_balance
        HAVING sum(CASE b.kind WHEN 'DRAWDOWN' THEN -b.amount ELSE b.amount END) <> pc.bond_balance
            OR (array_agg(b.balance_after ORDER BY b.id DESC))[1] <> pc.bond_balance""").fetchall()
    assert off == []
    assert db.execute("SELECT count(DISTINCT contract_id) FROM bond_ledger WHERE kind = 'DEPOSIT'"
                      ).fetchone() == db.execute("SELECT count(*) FROM property_contracts").fetchone()


def test_draw_and_top_up_keep_the_ledger_arithmetic(gql: GraphQLClient, token: Minter,
                                                    db: psycopg.Connection) -> None:
    c = contract(db, 0)
    before = ledger_rows(db, c.id)
    officer = gql.as_(token("STREET_OFFICER", c.compound_code[:9], sub="street-1"))
    out = officer.data(DRAW, {"input": {"contractId": c.id, "amount": "1234.50",
                                        "reason": " 电梯应急维修 "}})["drawBond"]
    bond = out["bond"]
    assert out["errors"] == []
    assert Decimal(bond["balance"]) == c.balance - Decimal("1234.50") == balance(db, c.id)
    last = bond["entries"][-1]
    assert (last["kind"], Decimal(last["amount"]), last["reason"], last["actor"]) == (
        "DRAWDOWN", Decimal("1234.50"), "电梯应急维修", "street-1")
    assert Decimal(last["balanceAfter"]) == Decimal(bond["balance"]) and bond["reconciled"]
    county = gql.as_(token("COUNTY_OFFICE"))
    up = county.data(TOP_UP, {"input": {"contractId": c.id, "amount": 1000,
                                        "reason": "物业公司补缴"}})["topUpBond"]
    assert up["errors"] == [] and up["bond"]["reconciled"]
    assert Decimal(up["bond"]["balance"]) == c.balance - Decimal("234.50")
    assert ledger_rows(db, c.id)[:len(before)] == before  # earlier entries never change
    assert [r[1] for r in ledger_rows(db, c.id)[len(before):]] == ["DRAWDOWN", "TOPUP"]
    over = county.data(TOP_UP, {"input": {"contractId": c.id, "amount": "234.51",
                                          "reason": "多缴"}})["topUpBond"]
    assert [(e["code"], e["field"]) for e in over["errors"]] == [("BAD_USER_INPUT", "input.amount")]
    assert len(ledger_rows(db, c.id)) == len(before) + 2  # the refused top-up wrote nothing


def test_an_overdraw_is_refused_with_nothing_written(gql: GraphQLClient, token: Minter,
                                                     db: psycopg.Connection) -> None:
    c = contract(db, 1)
    before = ledger_rows(db, c.id)
    out = gql.as_(token("COUNTY_OFFICE")).data(DRAW, {"input": {
        "contractId": c.id, "amount": str(c.balance + Decimal("0.01")), "reason": "大修"}})[
        "drawBond"]
    assert out["bond"] is None and [(e["code"], e["field"]) for e in out["errors"]] == [
        ("BOND_INSUFFICIENT", "input.amount")]
    assert ledger_rows(db, c.id) == before and balance(db, c.id) == c.balance


def test_concurrent_drawdowns_never_overdraw(live_server: str, token: Minter,
                                             db: psycopg.Connection) -> None:
    c = contract(db, 2)
    share = (c.balance * Decimal("0.6")).quantize(Decimal("0.01"))
    officer = {"Authorization": f"Bearer {token('STREET_OFFICER', c.compound_code[:9])}"}

    async def race(amount: Decimal, n: int) -> list[dict[str, Any]]:
        body = {"query": DRAW, "variables": {"input": {
            "contractId": c.id, "amount": str(amount), "reason": "抢修"}}}
        async with httpx.AsyncClient(base_url=live_server, timeout=60, headers=officer) as h:
            responses = await asyncio.gather(*(h.post("/graphql", json=body) for _ in range(n)))
        return [r.json()["data"]["drawBond"] for r in responses]

    results = asyncio.run(race(share, 2))
    assert sorted(len(r["errors"]) for r in results) == [0, 1]
    assert [e["code"] for r in results for e in r["errors"]] == ["BOND_INSUFFICIENT"]
    assert balance(db, c.id) == c.balance - share
    # A storm: 8 draws of a quarter of what is left; exactly 4 fit.
    left = balance(db, c.id)
    quarter = (left / 4).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    storm = asyncio.run(race(quarter, 8))
    assert sum(not r["errors"] for r in storm) == 4
    assert balance(db, c.id) == left - 4 * quarter >= 0
    rows = ledger_rows(db, c.id)
    assert [r[1] for r in rows].count("DRAWDOWN") == 5 and rows[-1][3] == balance(db, c.id)


BAD = [({"amount": a}, "BAD_USER_INPUT", "input.amount")
       for a in ("0", "-5", "1.001", "NaN", "Infinity", "1e11")] + [
    ({"reason": "   "}, "BAD_USER_INPUT", "input.reason"),
    ({"contractId": 999999}, "NOT_FOUND", "input.contractId"),
    ({"ticketCode": "T-none"}, "NOT_FOUND", "input.ticketCode"),
    ({"ticketCode": "another compound's"}, "BAD_USER_INPUT", "input.ticketCode"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_draw_input_writes_nothing(gql: GraphQLClient, token: Minter, db: psycopg.Connection,
                                       change: dict[str, Any], code: str, field: str) -> None:
    c = contract(db, 3)
    if change.get("ticketCode") == "another compound's":
        row = db.execute("SELECT code FROM tickets WHERE compound_code <> %s ORDER BY id LIMIT 1",
                         (c.compound_code,)).fetchone()
        change = {"ticketCode": row[0] if row else None}
    before = totals(db)
    out = gql.as_(token("COUNTY_OFFICE")).data(DRAW, {"input": {
        "contractId": c.id, "amount": "100", "reason": "维修", **change}})["drawBond"]
    assert out["bond"] is None and [(e["code"], e["field"]) for e in out["errors"]] == [(code, field)]
    assert totals(db) == before


@pytest.mark.parametrize(("role", "scope"), [
    ("COMMUNITY_STAFF", "community"), ("STREET_OFFICER", "other"), ("PLANNER", None),
    ("UNIT", "company"), ("GRID_WORKER", "community"), (None, None)])
def test_only_the_street_or_county_moves_a_bond(gql: GraphQLClient, token: Minter,
                                                db: psycopg.Connection, role: str | None,
                                                scope: str | None) -> None:
    c = contract(db, 4)  # in street 371329001
    scopes = {"community": c.compound_code[:12], "company": c.company_code, "other": "371329002"}
    client = gql.as_(token(role, *([scopes[scope]] if scope else []))) if role else gql
    for mutation, name in ((DRAW, "drawBond"), (TOP_UP, "topUpBond")):
        error = client.error(mutation, {"input": {"contractId": c.id, "amount": "10",
                                                  "reason": "维修"}})
        assert error["extensions"]["code"] == "FORBIDDEN" and error["path"] == [name]
    assert ledger_rows(db, c.id)[-1][1] == "DEPOSIT" and balance(db, c.id) == c.balance


def test_who_reads_bonds(gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    c = contract(db, 5)
    for who in (token("COMMUNITY_STAFF", c.compound_code[:12]), token("UNIT", c.company_code)):
        assert gql.as_(who).data(LEDGER, {"id": c.id})["bondLedger"]["contractId"] == c.id
    other_company = "PC01" if c.company_code != "PC01" else "PC02"
    for who in (token("UNIT", other_company), token("PLANNER"), token("RESIDENT"),
                token("COMMUNITY_STAFF", "371329002001")):
        assert gql.as_(who).error(LEDGER, {"id": c.id})["extensions"]["code"] == "FORBIDDEN"
    assert gql.error(LEDGER, {"id": c.id})["extensions"]["code"] == "FORBIDDEN"
    county = gql.as_(token("COUNTY_OFFICE"))
    assert county.error(LEDGER, {"id": 999999})["extensions"] == {"code": "NOT_FOUND",
                                                                   "field": "contractId"}
    err = county.error(COMPOUND_BONDS, {"code": "371329001010C99"})
    assert err["extensions"] == {"code": "NOT_FOUND", "field": "compoundCode"}
    # A compound's bonds: every contract, newest first.
    bonds = county.data(COMPOUND_BONDS, {"code": huafeng(db)[0]})["compoundBonds"]
    assert len(bonds) == 2 and bonds[0]["endDate"] is None
    assert bonds[1]["endDate"] == bonds[0]["startDate"] == "2023-09-01"
    assert [e["kind"] for e in bonds[1]["entries"]] == ["DEPOSIT"]
    assert all(b["reconciled"] and Decimal("0.05") <= Decimal(b["rate"]) <= Decimal("0.10")
               for b in bonds)


def test_ranking_counts_are_withheld_from_staff_outside_the_compounds(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    # Standings count any months, cut at contract days: outside the caller's scope none of
    # their counts is shown, whatever its size (test_differencing.py differences them).
    community = "371329001001"
    month = {"from": "2024-06", "to": "2024-06"}
    exact = gql.as_(token("PLANNER", sub="planner-ranking")).data(RANKING, month)[
        "propertyRanking"]
    staff = gql.as_(token("COMMUNITY_STAFF", community, sub="staff-ranking")).data(
        RANKING, month)["propertyRanking"]
    pairs = [(e, s) for kind in ("companies", "managers")
             for e, s in zip(exact[kind]["ranked"], staff[kind]["ranked"], strict=True)]
    assert any(e["tickets"] < 3 for e, _ in pairs)  # the month has small standings
    inside = {(r[0], r[1]) for r in db.execute(
        "SELECT company_code, manager_name FROM property_contracts WHERE start_date < "
        "'2024-07-01' AND (end_date IS NULL OR end_date > '2024-06-01') GROUP BY 1, 2 "
        "HAVING bool_and(compound_code LIKE %s)", (community + "%",))}
    assert inside  # managers whose compounds all lie in the community
    shown = 0
    for e, s in pairs:
        assert (e["rank"], e["managerName"], e["company"]) == (
            s["rank"], s["managerName"], s["company"])
        if s["managerName"] is not None and (s["company"]["code"], s["managerName"]) in inside:
            shown += 1
            assert (s["tickets"], s["ratedTickets"]) == (e["tickets"], e["ratedTickets"])
        else:
            assert (s["tickets"], s["ratedTickets"]) == (None, None)
            assert s["ticketsPerHundredHouseholdsPerMonth"] is None
            assert s["averageRating"] is None
    assert shown


FINDINGS = """query ($from: String, $to: String) { propertyRanking(from: $from, to: $to) {
  companies { ranked { company { code } compounds supervisorFindings } }
  managers { ranked { company { code } managerName supervisorFindings } } } }"""


def test_supervisors_findings_count_in_the_ranking(gql: GraphQLClient, token: Minter,
                                                   db: psycopg.Connection) -> None:
    # The account: 530 problems found by compound supervisors, and solved.
    assert db.execute("SELECT count(*), count(resolved_at), count(DISTINCT supervisor_code) "
                      "FROM supervisor_findings").fetchone() == (530, 530, 110)
    # Each against the company under contract in the compound on the day it was found.
    assert db.execute("""SELECT count(*) FROM supervisor_findings f WHERE NOT EXISTS (
        SELECT 1 FROM property_contracts pc WHERE pc.compound_code = f.compound_code
          AND pc.company_code = f.company_code
          AND pc.start_date <= (f.found_at AT TIME ZONE 'Asia/Shanghai')::date
          AND (pc.end_date IS NULL
               OR (f.found_at AT TIME ZONE 'Asia/Shanghai')::date < pc.end_date))""").fetchone() \
        == (0,)
    ask = {"from": "2023-01", "to": "2024-06"}
    r = gql.as_(token("PLANNER")).data(FINDINGS, ask)["propertyRanking"]
    want = dict(db.execute("""SELECT company_code, count(*) FROM supervisor_findings
        WHERE found_at >= '2023-01-01T00:00+08' AND found_at < '2024-07-01T00:00+08'
        GROUP BY 1""").fetchall())
    got = {s["company"]["code"]: s["supervisorFindings"] for s in r["companies"]["ranked"]}
    assert {k: v for k, v in got.items() if v} == want and sum(want.values()) == 530
    assert sum(s["supervisorFindings"] for s in r["managers"]["ranked"]) == 530
    # Staff outside a company's compounds (here of one grid cell, which holds no compound
    # wholly) see none of its counts, as its tickets.
    outside = gql.as_(token("COMMUNITY_STAFF", "371329002001001")).data(FINDINGS, ask)[
        "propertyRanking"]["managers"]["ranked"]
    assert outside and all(s["supervisorFindings"] is None for s in outside)


SUMMONS = """query ($year: Int!) { summonsRecords(year: $year) { id at reason
  unit { code kind } } }"""
RECORD_SUMMONS = """mutation ($input: RecordSummonsInput!) { recordSummons(input: $input) {
  summons { id at reason unit { code } } errors { code field } } }"""


def test_the_demo_year_summoned_8_companies_and_9_units(county: GraphQLClient) -> None:
    records = county.data(SUMMONS, YEAR)["summonsRecords"]
    kinds = [r["unit"]["kind"] for r in records]
    assert kinds.count("PROPERTY_COMPANY") == 8 and len(kinds) - kinds.count("PROPERTY_COMPANY") == 9
    assert len({r["unit"]["code"] for r in records}) == 17
    assert all(r["at"].startswith("2023-") and r["reason"] for r in records)
    assert [r["at"] for r in records] == sorted(r["at"] for r in records)


@pytest.mark.parametrize(("role", "scopes", "reads", "records"), [
    (None, (), False, False), ("RESIDENT", (), False, False),
    ("GRID_WORKER", ("371329001001",), False, False), ("PLANNER", (), True, False),
    ("COMMUNITY_STAFF", ("371329001001",), True, False),
    ("STREET_OFFICER", ("371329001",), True, False), ("COUNTY_OFFICE", (), True, True),
])
def test_who_reads_and_records_summonses(gql: GraphQLClient, token: Minter,
                                         db: psycopg.Connection, role: str | None,
                                         scopes: tuple[str, ...], reads: bool,
                                         records: bool) -> None:
    caller = gql.as_(token(role, *scopes)) if role else gql
    body = caller(SUMMONS, YEAR)
    if reads:
        assert len(body["data"]["summonsRecords"]) >= 17
    else:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    before = db.execute("SELECT count(*) FROM summons").fetchone()
    out = caller(RECORD_SUMMONS, {"input": {"unitCode": "PC01", "reason": "约谈"}})
    if records:
        assert out["data"]["recordSummons"]["errors"] == []
    else:
        assert out["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert db.execute("SELECT count(*) FROM summons").fetchone() == before


def test_a_unit_reads_only_its_own_summonses(gql: GraphQLClient, token: Minter,
                                             db: psycopg.Connection) -> None:
    unit = db.execute("SELECT unit_code FROM summons WHERE unit_code LIKE 'U-%%' "
                      "ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    mine = gql.as_(token("UNIT", unit)).data(SUMMONS, YEAR)["summonsRecords"]
    assert mine and {r["unit"]["code"] for r in mine} == {unit}


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"unitCode": "PC99"}, "NOT_FOUND", "input.unitCode"),
    ({"reason": "  "}, "BAD_USER_INPUT", "input.reason"),
    ({"at": "2999-01-01T09:00:00+08:00"}, "BAD_USER_INPUT", "input.at"),
])
def test_a_bad_summons_writes_nothing(county: GraphQLClient, db: psycopg.Connection,
                                      change: dict[str, str], code: str, field: str) -> None:
    before = db.execute("SELECT count(*) FROM summons").fetchone()
    out = county.data(RECORD_SUMMONS, {"input": {"unitCode": "PC02", "reason": "约谈",
                                                 **change}})["recordSummons"]
    assert out["summons"] is None and out["errors"] == [{"code": code, "field": field}]
    assert db.execute("SELECT count(*) FROM summons").fetchone() == before


REPLACEMENTS = """query ($year: Int!) { managerReplacements(year: $year) { year managerCount
  replacedCount meetsBottomShare replacements { compoundCode compoundName company { code }
  oldManager newManager replacedOn } } }"""


def test_the_demo_replaced_15_managers_in_2023_keeping_the_companies(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    r = gql.as_(token("PLANNER")).data(REPLACEMENTS, YEAR)["managerReplacements"]
    assert r["replacedCount"] == len(r["replacements"]) == 15  # the account's 15 of 2023
    assert r["meetsBottomShare"] and r["replacedCount"] >= r["managerCount"] / 100
    ranked = gql.as_(token("PLANNER")).data(RANKING, YEAR)["propertyRanking"]["managers"]
    assert r["managerCount"] == len(ranked["ranked"])
    assert "华丰现代城" in {x["compoundName"] for x in r["replacements"]}
    # The year's worst (华丰现代城's manager until September) is among the replaced.
    assert ranked["ranked"][-1]["managerName"] in {x["oldManager"] for x in r["replacements"]}
    for x in r["replacements"]:
        assert x["oldManager"] != x["newManager"] and x["replacedOn"].startswith("2023-")
        companies = db.execute("SELECT DISTINCT company_code FROM property_contracts "
                               "WHERE compound_code = %s", (x["compoundCode"],)).fetchall()
        assert companies == [(x["company"]["code"],)]
    assert gql.as_(token("PLANNER")).data(REPLACEMENTS, {"year": 2022})[
        "managerReplacements"]["replacedCount"] == 0
    for caller in (gql, gql.as_(token("RESIDENT")), gql.as_(token("UNIT", "PC01"))):
        assert caller.error(REPLACEMENTS, YEAR)["extensions"]["code"] == "FORBIDDEN"
