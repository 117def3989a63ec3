"""Community cadres 社区干部 under the county's management rules: who holds which post, the
cases decided under the rules (pay deductions, suspensions), the yearly political check, and
training and mentoring. Names are personal data: staff within their scope and the county
office only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from db.database import Database
from db.queries import cadres as q
from resolvers import policy
from resolvers.actor import Actor
from resolvers.inputs import period_year
from resolvers.policy import Operation

OPERATION = Operation.READ_CADRES
WHO = "community cadres are for community, zone and street staff and the county office"


@dataclass
class CadreRecord:
    """A cadre's row with their cases, checks and mentoring pairs."""

    row: Any
    cases: list[Any] = field(default_factory=list)
    checks: list[Any] = field(default_factory=list)
    mentors: list[str] = field(default_factory=list)
    mentees: list[str] = field(default_factory=list)


async def cadres(db: Database, actor: Actor, *, community_code: str | None,
                 post: str | None) -> list[CadreRecord]:
    policy.check_role(actor, OPERATION, WHO)
    policy.check_place(actor, OPERATION, community_code, "communityCode")
    async with db.connection() as conn:
        rows = await q.cadres(conn, scopes=policy.sql_scopes(actor, OPERATION),
                              community_code=community_code,
                              post=post)
        codes = [r.code for r in rows]
        records = {r.code: CadreRecord(r) for r in rows}
        for case in await q.cases(conn, codes):
            records[case.cadre_code].cases.append(case)
        for check in await q.checks(conn, codes):
            records[check.cadre_code].checks.append(check)
        for pair in await q.mentorships(conn, codes):
            if pair.mentee_code in records:
                records[pair.mentee_code].mentors.append(pair.mentor_code)
            if pair.mentor_code in records:
                records[pair.mentor_code].mentees.append(pair.mentee_code)
    return list(records.values())


@dataclass(frozen=True)
class Compliance:
    """A year under the rules: whether its check was held, who missed or failed it, and the
    cases decided in it."""

    year: int
    check_held: bool
    missing_check: list[CadreRecord]
    failed_check: list[CadreRecord]
    deductions: list[tuple[CadreRecord, Any]]
    suspensions: list[tuple[CadreRecord, Any]]


async def compliance(db: Database, actor: Actor, *, year: int,
                     community_code: str | None) -> Compliance:
    period_year(year, "year")
    records = await cadres(db, actor, community_code=community_code, post=None)
    end = date(year, 12, 31)
    held = any(c.year == year for r in records for c in r.checks)
    checked: dict[str, Any] = {}
    for r in records:
        for c in r.checks:
            if c.year == year:
                checked[r.row.code] = c
    missing = [r for r in records if held and r.row.elected_on <= end
               and r.row.code not in checked]
    failed = [r for r in records if r.row.code in checked and not checked[r.row.code].passed]
    decided: dict[str, list[tuple[CadreRecord, Any]]] = defaultdict(list)
    for r in records:
        for case in r.cases:
            if case.decided_on.year == year:
                decided[case.kind].append((r, case))
    return Compliance(year, held, missing, failed, decided["DEDUCTION"],
                      decided["SUSPENSION"])


async def rules(db: Database) -> list[Any]:
    async with db.connection() as conn:
        return await q.rules(conn)


async def trainings(db: Database, actor: Actor, year: int) -> list[Any]:
    policy.check_role(actor, OPERATION, WHO)
    period_year(year, "year")
    async with db.connection() as conn:
        return await q.trainings(conn, year)
