"""Community cadres 社区干部 and their management rules in GraphQL."""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import cadres as resolver
from schema.types import Community


@strawberry.enum
class CadrePost(enum.Enum):
    SECRETARY = "SECRETARY"  # 书记
    DIRECTOR = "DIRECTOR"  # 主任
    DEPUTY_SECRETARY = "DEPUTY_SECRETARY"
    DEPUTY_DIRECTOR = "DEPUTY_DIRECTOR"
    MEMBER = "MEMBER"  # 委员


@strawberry.enum
class CadreRuleKind(enum.Enum):
    DEDUCTION = "DEDUCTION"  # 扣减绩效报酬
    SUSPENSION = "SUSPENSION"  # 停职、免职
    CHECK = "CHECK"  # 年度政治体检


@strawberry.type
class CadreRule:
    """A management rule for cadres, as data."""

    code: str
    kind: CadreRuleKind
    name_zh: str

    @classmethod
    def of(cls, row: Any) -> CadreRule:
        return cls(code=row.code, kind=CadreRuleKind(row.kind), name_zh=row.name_zh)


@strawberry.type
class CadreCase:
    rule: CadreRule
    decided_on: date
    note: str | None


@strawberry.type
class CadreCheck:
    year: int
    checked_on: date
    passed: bool


@strawberry.type
class Cadre:
    """An elected cadre 社区干部 of a community's two committees 两委."""

    code: str
    name: str
    post: CadrePost
    party_member: bool
    elected_on: date
    cases: list[CadreCase] = strawberry.field(
        description="Cases decided under the rules, oldest first. All of them; not paged.")
    checks: list[CadreCheck] = strawberry.field(
        description="Yearly political checks, by year. At most one per year.")
    mentor_codes: list[str] = strawberry.field(
        description="The experienced secretary mentoring this new one 以老带新. At most one.")
    mentee_codes: list[str] = strawberry.field(
        description="The new secretaries this one mentors. At most a few.")
    community_code: strawberry.Private[str]

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community.of(await info.context.loaders.community.load(self.community_code))

    @classmethod
    def of(cls, r: resolver.CadreRecord) -> Cadre:
        row = r.row
        return cls(code=row.code, name=row.name, post=CadrePost(row.post),
                   party_member=row.party_member, elected_on=row.elected_on,
                   cases=[CadreCase(rule=CadreRule.of(c), decided_on=c.decided_on, note=c.note)
                          for c in r.cases],
                   checks=[CadreCheck(year=c.year, checked_on=c.checked_on, passed=c.passed)
                           for c in r.checks],
                   mentor_codes=r.mentors, mentee_codes=r.mentees,
                   community_code=row.community_code)


@strawberry.type
class CadreCaseOf:
    cadre: Cadre
    case: CadreCase


@strawberry.type
class CadreCompliance:
    year: int
    check_held: bool = strawberry.field(description="Whether the year's political check has "
                                                    "been held (false: no one is missing it yet).")
    missing_check: list[Cadre] = strawberry.field(
        description="Cadres in office that year without a check. At most every cadre in scope.")
    failed_check: list[Cadre] = strawberry.field(
        description="Cadres whose check found a problem. At most every cadre in scope.")
    deductions: list[CadreCaseOf] = strawberry.field(
        description="Pay deductions decided that year. All of them; not paged.")
    suspensions: list[CadreCaseOf] = strawberry.field(
        description="Suspensions or dismissals decided that year. All of them; not paged.")


@strawberry.type
class CadreTraining:
    title: str
    destination: str
    started_on: date
    days: int
    participant_count: int
    cadre_codes: strawberry.Private[list[str]]

    @strawberry.field(description="The participants within the caller's scope. At most "
                                  "`participantCount`.")
    async def cadres(self, info: Info) -> list[Cadre]:
        records = await resolver.cadres(info.context.db, info.context.actor,
                                        community_code=None, post=None)
        return [Cadre.of(r) for r in records if r.row.code in set(self.cadre_codes)]


def _pairs(items: list[tuple[resolver.CadreRecord, Any]]) -> list[CadreCaseOf]:
    return [CadreCaseOf(cadre=Cadre.of(r), case=CadreCase(
        rule=CadreRule.of(c), decided_on=c.decided_on, note=c.note)) for r, c in items]


@strawberry.type
class CadreQuery:
    @strawberry.field(description="Community cadres 社区干部 in code order, with their cases, "
                                  "checks and mentoring (397 in the demo county). Community, "
                                  "zone and street staff within their scope, the county "
                                  "office. All that match; not paged.")
    async def cadres(self, info: Info, community_code: str | None = None,
                     post: CadrePost | None = None) -> list[Cadre]:
        records = await resolver.cadres(info.context.db, info.context.actor,
                                        community_code=community_code,
                                        post=post.value if post else None)
        return [Cadre.of(r) for r in records]

    @strawberry.field(description="The management rules as data: 12 kinds of pay deduction, "
                                  "10 of suspension or dismissal, the yearly political check. "
                                  "All of them (23). Public.")
    async def cadre_rules(self, info: Info) -> list[CadreRule]:
        return [CadreRule.of(r) for r in await resolver.rules(info.context.db)]

    @strawberry.field(description="A year under the rules for the cadres in scope: who missed "
                                  "or failed the political check, deductions and suspensions.")
    async def cadre_compliance(self, info: Info, year: int,
                               community_code: str | None = None) -> CadreCompliance:
        c = await resolver.compliance(info.context.db, info.context.actor, year=year,
                                      community_code=community_code)
        return CadreCompliance(year=c.year, check_held=c.check_held,
                               missing_check=[Cadre.of(r) for r in c.missing_check],
                               failed_check=[Cadre.of(r) for r in c.failed_check],
                               deductions=_pairs(c.deductions),
                               suspensions=_pairs(c.suspensions))

    @strawberry.field(description="Training trips of cadres started in a year. All of them; "
                                  "not paged.")
    async def cadre_trainings(self, info: Info, year: int) -> list[CadreTraining]:
        rows = await resolver.trainings(info.context.db, info.context.actor, year)
        return [CadreTraining(title=r.title, destination=r.destination, started_on=r.started_on,
                              days=r.days, participant_count=len(r.cadre_codes),
                              cadre_codes=list(r.cadre_codes)) for r in rows]
