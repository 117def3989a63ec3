"""Property performance and the performance bond 履约保证金: thin fields over
`resolvers/performance.py`."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers import performance
from resolvers.disclosure import MIN_COUNT, Disclosure
from resolvers.errors import DomainError
from resolvers.performance import BondMove, Ranking, Standing
from schema.notices import USER_ERRORS
from schema.types import Compound, Unit, UserError, user_errors

From = Annotated[str, strawberry.argument(name="from", description="First month, YYYY-MM.")]
To = Annotated[str, strawberry.argument(description="Last month, YYYY-MM (included).")]
OptionalFrom = Annotated[str | None, strawberry.argument(name="from",
                                                         description="First month, YYYY-MM.")]


@strawberry.type
class MonthlyTickets:
    month: str = strawberry.field(description="YYYY-MM, counted in Asia/Shanghai time.")
    tickets: int | None = strawberry.field(
        description=f"Null when withheld: under {MIN_COUNT}, for callers without exact counts for the "
                    "compound (the public, residents, staff outside their scope).")
    per_hundred_households: float | None = strawberry.field(
        description="Null when `tickets` is withheld.")
    withheld: bool = strawberry.field(description="Whether `tickets` is withheld.")


@strawberry.type
class PropertyStanding:
    rank: int = strawberry.field(description="1 is the fewest tickets per household.")
    manager_name: str | None = strawberry.field(description="Null on a company's standing.")
    compounds: int
    household_months: float
    tickets: int | None = strawberry.field(
        description="Null when withheld: for staff without exact counts for every compound of "
                    "the standing, whatever its size (standings count any months, cut at "
                    "contract days: two windows, or a standing against its compound's months, "
                    "would give a small count by difference).")
    tickets_per_hundred_households_per_month: float | None = strawberry.field(
        description="Null when `tickets` is withheld.")
    rated_tickets: int | None = strawberry.field(description="Null when withheld, as tickets.")
    supervisor_findings: int | None = strawberry.field(
        description="Problems compound supervisors 小区监督员 found against the company in its "
                    "compounds in the period; null when withheld, as tickets.")
    average_rating: float | None = strawberry.field(
        description="Null when nothing was rated, or `ratedTickets` is withheld.")
    company_code: strawberry.Private[str]

    @strawberry.field
    async def company(self, info: Info) -> Unit:
        return Unit.of(await info.context.loaders.unit.load(self.company_code))

    @classmethod
    def of(cls, s: Standing, rule: Disclosure) -> PropertyStanding:
        tickets = rule.count_over(s.tickets, s.compounds)
        rated = rule.count_over(s.rated, s.compounds)
        average = s.average_rating if rated is not None else None
        return cls(rank=s.rank, manager_name=s.manager_name, compounds=len(s.compounds),
                   household_months=round(s.household_months, 2), tickets=tickets,
                   tickets_per_hundred_households_per_month=(
                       None if tickets is None else round(s.rate, 4)),
                   rated_tickets=rated,
                   supervisor_findings=rule.count_over(s.findings, s.compounds),
                   average_rating=None if average is None else round(average, 2),
                   company_code=s.company_code)


@strawberry.type
class PropertyStandings:
    ranked: list[PropertyStanding] = strawberry.field(
        description="Best first. One per company or manager with compounds (25 companies in the "
                    "demo).")
    bottom: list[PropertyStanding] = strawberry.field(
        description="The worst ≥ 1% (at least one, and all tied with the best of them): "
                    "candidates for replacement. At most one per ranked company or manager.")

    @classmethod
    def of(cls, standings: list[Standing], rule: Disclosure) -> PropertyStandings:
        return cls(ranked=[PropertyStanding.of(s, rule) for s in standings],
                   bottom=[PropertyStanding.of(s, rule) for s in Ranking.bottom(standings)])


@strawberry.type
class PropertyRanking:
    start: date
    end: date = strawberry.field(description="The day after the period (a period in progress "
                                             "ends after today).")
    companies: PropertyStandings
    managers: PropertyStandings


@strawberry.enum
class BondEntryKind(enum.Enum):
    DEPOSIT = "DEPOSIT"
    DRAWDOWN = "DRAWDOWN"
    TOPUP = "TOPUP"


@strawberry.type
class BondEntry:
    id: int
    at: datetime
    kind: BondEntryKind
    amount: Decimal
    balance_after: Decimal
    reason: str
    ticket_code: str | None
    actor: str

    @classmethod
    def of(cls, row: Any) -> BondEntry:
        return cls(id=row.id, at=row.at, kind=BondEntryKind(row.kind), amount=row.amount,
                   balance_after=row.balance_after, reason=row.reason,
                   ticket_code=row.ticket_code, actor=row.actor)


@strawberry.type
class Bond:
    contract_id: int
    manager_name: str
    start_date: date
    end_date: date | None
    annual_fee_receivable: Decimal
    rate: Decimal
    amount: Decimal
    balance: Decimal
    reconciled: bool = strawberry.field(description="DEPOSIT − DRAWDOWN + TOPUP = balance.")
    entries: list[BondEntry] = strawberry.field(
        description="The append-only ledger, oldest first. All of its entries (a deposit, then a "
                    "few drawdowns and top-ups a year); not paged.")
    compound_code: strawberry.Private[str]
    company_code: strawberry.Private[str]

    @strawberry.field
    async def compound(self, info: Info) -> Compound:
        return Compound.of(await info.context.loaders.compound.load(self.compound_code))

    @strawberry.field
    async def company(self, info: Info) -> Unit:
        return Unit.of(await info.context.loaders.unit.load(self.company_code))

    @classmethod
    def of(cls, b: performance.Bond) -> Bond:
        c = b.contract
        return cls(contract_id=c.id, manager_name=c.manager_name, start_date=c.start_date,
                   end_date=c.end_date, annual_fee_receivable=c.annual_fee_receivable,
                   rate=c.bond_rate, amount=c.bond_amount, balance=c.bond_balance,
                   reconciled=b.reconciled, entries=[BondEntry.of(e) for e in b.entries],
                   compound_code=c.compound_code, company_code=c.company_code)


@strawberry.input
class DrawBondInput:
    contract_id: int
    amount: Decimal = strawberry.field(description="Yuan, more than 0, at most the balance.")
    reason: str
    ticket_code: str | None = strawberry.field(default=None,
                                               description="The ticket of the repair, if any.")


@strawberry.input
class TopUpBondInput:
    contract_id: int
    amount: Decimal = strawberry.field(description="Yuan; the balance may not pass the bond amount.")
    reason: str


@strawberry.type
class BondPayload:
    bond: Bond | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type(description="A summons 约谈 of a property company or another unit.")
class SummonsRecord:
    id: int
    at: datetime
    reason: str
    unit: Unit

    @classmethod
    def of(cls, row: Any) -> SummonsRecord:
        return cls(id=row.id, at=row.at, reason=row.reason,
                   unit=Unit(code=row.unit_code, name=row.unit_name, kind=row.unit_kind))


@strawberry.type(description="A property manager replaced, the company keeping the compound.")
class ManagerReplacement:
    compound_code: str
    compound_name: str
    company: Unit
    old_manager: str
    new_manager: str
    replaced_on: date

    @classmethod
    def of(cls, row: Any) -> ManagerReplacement:
        return cls(compound_code=row.compound_code, compound_name=row.compound_name,
                   company=Unit(code=row.company_code, name=row.company_name,
                                kind="PROPERTY_COMPANY"),
                   old_manager=row.old_manager, new_manager=row.new_manager,
                   replaced_on=row.replaced_on)


@strawberry.type
class ManagerReplacements:
    year: int
    manager_count: int = strawberry.field(description="Managers ranked that year.")
    replaced_count: int
    meets_bottom_share: bool = strawberry.field(description="At least the bottom 1% (at least "
                                                            "one) were replaced.")
    replacements: list[ManagerReplacement] = strawberry.field(
        description="All of the year's replacements (15 in the demo's 2023); not paged.")


@strawberry.input
class RecordSummonsInput:
    unit_code: str
    reason: str
    at: datetime | None = strawberry.field(default=None, description="Defaults to now.")


@strawberry.type
class SummonsPayload:
    summons: SummonsRecord | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class PerformanceQuery:
    @strawberry.field(description="A compound's tickets in each month, per 100 households too. "
                                  "One per month of from..to: at most 120.")
    async def compound_monthly_tickets(self, info: Info, compound_code: str, from_: From,
                                       to: To) -> list[MonthlyTickets]:
        months = await performance.compound_monthly(info.context.db, info.context.actor,
                                                    compound_code, from_=from_, to=to)
        return [MonthlyTickets(month=f"{m.month:%Y-%m}", tickets=m.tickets,
                               per_hundred_households=m.per_hundred_households,
                               withheld=m.withheld) for m in months]

    @strawberry.field(description="Property companies and managers ranked by tickets per 100 "
                                  "households per month, over a year or a month range.")
    async def property_ranking(self, info: Info, year: int | None = None,
                               from_: OptionalFrom = None, to: str | None = None) -> PropertyRanking:
        r = await performance.property_ranking(info.context.db, info.context.actor, year=year,
                                               from_=from_, to=to)
        return PropertyRanking(start=r.start, end=r.end,
                               companies=PropertyStandings.of(r.companies, r.rule),
                               managers=PropertyStandings.of(r.managers, r.rule))

    @strawberry.field(description="A year's summonses, oldest first, at most "
                                  f"{performance.MAX_SUMMONS}: staff and planners see all, a "
                                  "unit its own.")
    async def summons_records(self, info: Info, year: int) -> list[SummonsRecord]:
        rows = await performance.summons_records(info.context.db, info.context.actor, year=year)
        return [SummonsRecord.of(r) for r in rows]

    @strawberry.field(description="Property managers replaced in a year (the bottom ≥ 1% are "
                                  "replaced each year), oldest first.")
    async def manager_replacements(self, info: Info, year: int) -> ManagerReplacements:
        r = await performance.manager_replacements(info.context.db, info.context.actor,
                                                   year=year)
        return ManagerReplacements(
            year=r.year, manager_count=r.managers, replaced_count=len(r.replaced),
            meets_bottom_share=r.meets_bottom_share,
            replacements=[ManagerReplacement.of(x) for x in r.replaced])

    @strawberry.field(description="A property contract's bond and its ledger.")
    async def bond_ledger(self, info: Info, contract_id: int) -> Bond:
        return Bond.of(await performance.bond(info.context.db, info.context.actor, contract_id))

    @strawberry.field(description="The bonds of a compound's contracts, newest first. One per "
                                  "contract it has had (a few); not paged.")
    async def compound_bonds(self, info: Info, compound_code: str) -> list[Bond]:
        bonds = await performance.compound_bonds(info.context.db, info.context.actor,
                                                 compound_code)
        return [Bond.of(b) for b in bonds]


async def _moved(info: Info, kind: str, move: BondMove) -> BondPayload:
    db, actor = info.context.db, info.context.actor
    try:
        contract_id = await performance.move_bond(db, actor, kind, move)
    except DomainError as err:
        return BondPayload(bond=None, errors=user_errors(err))
    return BondPayload(bond=Bond.of(await performance.bond(db, actor, contract_id)), errors=[])


@strawberry.type
class PerformanceMutation:
    @strawberry.mutation(description="Records a summons 约谈 of a unit (the county office).")
    async def record_summons(self, info: Info, input: RecordSummonsInput) -> SummonsPayload:
        try:
            row = await performance.record_summons(info.context.db, info.context.actor,
                                                   unit_code=input.unit_code, at=input.at,
                                                   reason=input.reason)
        except DomainError as err:
            return SummonsPayload(summons=None, errors=user_errors(err))
        return SummonsPayload(summons=SummonsRecord.of(row), errors=[])

    @strawberry.mutation(description="Draws from a bond for a repair the company failed to make.")
    async def draw_bond(self, info: Info, input: DrawBondInput) -> BondPayload:
        return await _moved(info, "DRAWDOWN", BondMove(input.contract_id, input.amount,
                                                       input.reason, input.ticket_code))

    @strawberry.mutation(description="Records the company topping its bond back up.")
    async def top_up_bond(self, info: Info, input: TopUpBondInput) -> BondPayload:
        return await _moved(info, "TOPUP", BondMove(input.contract_id, input.amount,
                                                    input.reason))
