"""Property performance: compounds' monthly tickets, the ranking of property companies and
managers (the bottom ≥ 1% are replaced each year), and the performance bond 履约保证金 of
5–10% of a compound's annual fee receivable, drawn by the street for emergency repairs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from db.database import Database
from db.queries import performance as queries
from db.queries import places as place_queries
from db.queries import tickets as ticket_queries
from db.queries.performance import NewEntry
from db.vocabulary import SHANGHAI
from resolvers import policy
from resolvers.actor import Actor
from resolvers.disclosure import Disclosure, disclosure
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.policy import Operation

MONTH_DAYS = 365.2425 / 12
MAX_MONTHS = 120
BOTTOM_SHARE = 0.01
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("10000000000")
MAX_REASON = 500
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str, field: str) -> date:
    """The first day of a `YYYY-MM` month."""
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
        raise bad_input(f"`{field}` must be a month YYYY-MM from 2000 on, got {text!r}", field)
    return date(int(m.group(1)), int(m.group(2)), 1)


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def month_span(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


def _months(from_: str, to: str) -> tuple[date, date]:
    first, last = parse_month(from_, "from"), parse_month(to, "to")
    if first > last:
        raise bad_input("`from` must not be after `to`", "from")
    if month_span(first, last) > MAX_MONTHS:
        raise bad_input(f"at most {MAX_MONTHS} months at a time", "to")
    return first, last


@dataclass(frozen=True)
class MonthTickets:
    month: date
    tickets: int | None  # None: withheld by the disclosure rule
    per_hundred_households: float | None

    @property
    def withheld(self) -> bool:
        return self.tickets is None


async def compound_monthly(db: Database, actor: Actor, compound_code: str, *, from_: str,
                           to: str) -> list[MonthTickets]:
    """A compound's tickets in each month (Asia/Shanghai), per 100 households too; months
    under MIN_COUNT withheld from callers without exact counts for the compound."""
    rule = disclosure(actor)
    first, last = _months(from_, to)
    async with db.connection() as conn:
        found = await place_queries.places_by_key(conn, "compounds", "code", [compound_code])
        if not found:
            raise DomainError(ErrorCode.NOT_FOUND, f"no compound {compound_code!r}",
                              "compoundCode")
        rows = await queries.monthly_tickets(conn, compound_code, first=first, last=last)
    households = found[0].households
    months = []
    for r in rows:
        n = rule.count(r.tickets, compound_code)
        share = None if n is None else round(100 * n / households, 2) if households else 0.0
        months.append(MonthTickets(r.month, n, share))
    return months


@dataclass
class Standing:
    """A company's or a manager's record over the compounds they ran in a period."""

    company_code: str
    company_name: str
    manager_name: str | None
    compounds: set[str]
    household_months: float = 0.0
    tickets: int = 0
    rated: int = 0
    rating_sum: int = 0
    findings: int = 0  # supervisors' findings 小区监督员发现问题
    rank: int = 0

    @property
    def rate(self) -> float:
        """Tickets per 100 households per month."""
        return 100 * self.tickets / self.household_months if self.household_months else 0.0

    @property
    def average_rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None


@dataclass(frozen=True)
class Ranking:
    start: date
    end: date  # exclusive
    companies: list[Standing]
    managers: list[Standing]
    rule: Disclosure  # what the caller may see of each standing's counts

    @staticmethod
    def bottom(standings: list[Standing]) -> list[Standing]:
        """The worst ≥ 1%, at least one, and every standing tied with the best of them: two
        managers with the same rate are replaced alike, never one chosen by their codes."""
        if not standings:
            return []
        cut = len(standings) - max(1, math.ceil(len(standings) * BOTTOM_SHARE))
        while cut > 0 and standings[cut - 1].rate == standings[cut].rate:
            cut -= 1
        return standings[cut:]


def _rank(rows: list[Any], key: Callable[[Any], Hashable], manager: bool) -> list[Standing]:
    by_key: dict[Hashable, Standing] = {}
    for r in rows:
        s = by_key.setdefault(key(r), Standing(r.company_code, r.company_name,
                                                r.manager_name if manager else None, set()))
        s.compounds.add(r.compound_code)
        s.household_months += r.households * r.days / MONTH_DAYS
        s.tickets += r.tickets
        s.rated += r.rated
        s.rating_sum += r.rating_sum
        s.findings += r.findings
    out = sorted((s for s in by_key.values() if s.household_months > 0),
                 key=lambda s: (s.rate, s.company_code, s.manager_name or ""))
    for n, s in enumerate(out, start=1):
        s.rank = n
    return out


def ranking_period(year: int | None, from_: str | None, to: str | None,
                   today: date) -> tuple[date, date]:
    """[start, end) of a year or a month range; a period in progress ends after today."""
    if year is not None and (from_ is not None or to is not None):
        raise bad_input("give a year, or a month range from/to, not both", "year")
    if year is not None:
        if not 2000 <= year <= today.year:
            raise bad_input(f"year must be 2000–{today.year}, got {year}", "year")
        start, end = date(year, 1, 1), date(year + 1, 1, 1)
    elif from_ is not None and to is not None:
        first, last = _months(from_, to)
        start, end = first, next_month(last)
    else:
        raise bad_input("give a year, or a month range with both from and to", "year")
    end = min(end, today + timedelta(days=1))
    if start >= end:
        raise bad_input("the period has not begun yet", "from" if year is None else "year")
    return start, end


def _ranked_period(actor: Actor, year: int | None, from_: str | None, to: str | None,
                   now: datetime | None) -> tuple[date, date]:
    """The period of a ranking request, for callers who may see the ranking."""
    policy.check_role(actor, Operation.READ_PROPERTY_RANKING,
                      "the property ranking is for staff and planners")
    today = (now or datetime.now(UTC)).astimezone(SHANGHAI).date()
    return ranking_period(year, from_, to, today)


async def property_ranking(db: Database, actor: Actor, *, year: int | None, from_: str | None,
                           to: str | None, now: datetime | None = None) -> Ranking:
    """Property companies and managers (by their contracts in force in the period), best first
    by tickets per 100 households per month over their compounds."""
    start, end = _ranked_period(actor, year, from_, to, now)
    async with db.connection() as conn:
        rows = await queries.contract_tickets(conn, start=start, end=end)
    return Ranking(start, end,
                   _rank(rows, lambda r: r.company_code, manager=False),
                   _rank(rows, lambda r: (r.company_code, r.manager_name), manager=True),
                   disclosure(actor))


@dataclass(frozen=True)
class Bond:
    contract: Any
    entries: list[Any]

    @property
    def reconciled(self) -> bool:
        """DEPOSIT − DRAWDOWN + TOPUP equals the balance, and so does the last entry."""
        sign = {"DEPOSIT": 1, "DRAWDOWN": -1, "TOPUP": 1}
        total = sum((sign[e.kind] * e.amount for e in self.entries), Decimal(0))
        last = self.entries[-1].balance_after if self.entries else Decimal(0)
        return total == self.contract.bond_balance == last


async def bond(db: Database, actor: Actor, contract_id: int) -> Bond:
    """A contract's bond and its ledger (staff covering the compound, or the company)."""
    policy.check_role(actor, Operation.READ_BONDS, "bonds are for staff and property companies")
    async with db.connection() as conn:
        contract = await queries.contract(conn, contract_id)
        if contract is None:
            raise policy.missing(actor, Operation.READ_BONDS, f"contract {contract_id}",
                                 DomainError(ErrorCode.NOT_FOUND, f"no contract {contract_id}",
                                             "contractId"))
        policy.authorise(actor, Operation.READ_BONDS, policy.contract(contract))
        return Bond(contract, await queries.ledger(conn, [contract_id]))


async def compound_bonds(db: Database, actor: Actor, compound_code: str) -> list[Bond]:
    """The bonds of a compound's contracts, newest contract first."""
    policy.check_role(actor, Operation.READ_BONDS, "bonds are for staff and property companies")
    # A unit is judged contract by contract (by its company); staff by the compound first.
    by_compound = policy.scope_key(actor) is not policy.ScopeKey.UNIT
    if by_compound and not policy.may(actor, Operation.READ_BONDS, policy.place(compound_code)):
        raise policy.outside_scope(compound_code)
    async with db.connection() as conn:
        contracts = await queries.contracts_of_compound(conn, compound_code)
        if not contracts and not await place_queries.places_by_key(
                conn, "compounds", "code", [compound_code]):
            raise DomainError(ErrorCode.NOT_FOUND, f"no compound {compound_code!r}",
                              "compoundCode")
        mine = [c for c in contracts
                if policy.may(actor, Operation.READ_BONDS, policy.contract(c))]
        entries = await queries.ledger(conn, [c.id for c in mine])
    return [Bond(c, [e for e in entries if e.contract_id == c.id]) for c in mine]


@dataclass(frozen=True)
class BondMove:
    contract_id: int
    amount: Decimal
    reason: str
    ticket_code: str | None = None


def _amount(value: Decimal) -> Decimal:
    try:
        ok = value.is_finite() and 0 < value <= MAX_AMOUNT and value == value.quantize(CENT)
    except InvalidOperation:
        ok = False
    if not ok:
        raise bad_input("amount must be more than 0 yuan, in fen at most (2 decimals), and at "
                        f"most {MAX_AMOUNT:,}", "input.amount")
    return value.quantize(CENT)


def _reason(text: str) -> str:
    reason = text.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise bad_input(f"a reason of 1–{MAX_REASON} characters is required", "input.reason")
    return reason


async def _ticket_id(conn: Any, code: str | None, compound_code: str) -> int | None:
    if code is None:
        return None
    found = await ticket_queries.tickets_by_code(conn, [code])
    if not found:
        raise DomainError(ErrorCode.NOT_FOUND, f"no ticket {code!r}", "input.ticketCode")
    if found[0].compound_code != compound_code:
        raise bad_input(f"ticket {code} is not of compound {compound_code}", "input.ticketCode")
    return int(found[0].id)


async def _held(conn: Any, contract: Any) -> Decimal:
    """The balance now (a concurrent move may have changed it since `contract` was read)."""
    now = await queries.contract(conn, contract.id)
    return Decimal((now or contract).bond_balance)


async def move_bond(db: Database, actor: Actor, kind: str, move: BondMove, *,
                    now: datetime | None = None) -> int:
    """Draws from (DRAWDOWN) or tops up (TOPUP) a bond and appends the ledger entry, in one
    transaction; returns the contract id. Nothing is written on any error."""
    policy.check_role(actor, Operation.KEEP_BONDS, "bonds are drawn and topped up by the "
                      "street officer of the compound or the county office")
    amount, reason = _amount(move.amount), _reason(move.reason)
    async with db.transaction() as conn:
        contract = await queries.contract(conn, move.contract_id)
        if contract is None:
            raise policy.missing(actor, Operation.KEEP_BONDS, f"contract {move.contract_id}",
                                 DomainError(ErrorCode.NOT_FOUND,
                                             f"no contract {move.contract_id}",
                                             "input.contractId"))
        policy.authorise(actor, Operation.KEEP_BONDS, policy.place(
            contract.compound_code, f"compound {contract.compound_code}"))
        ticket_id = await _ticket_id(conn, move.ticket_code, contract.compound_code)
        if kind == "DRAWDOWN":
            balance = await queries.move_balance(conn, contract.id, -amount)
            if balance is None:
                held = await _held(conn, contract)
                raise DomainError(ErrorCode.BOND_INSUFFICIENT, f"the bond holds {held} yuan, "
                                  f"less than the {amount} asked for", "input.amount")
        else:
            balance = await queries.move_balance(conn, contract.id, amount)
            if balance is None:
                held = await _held(conn, contract)
                raise bad_input(f"a top-up of {amount} would raise the balance {held} above the "
                                f"bond amount {contract.bond_amount}", "input.amount")
        await queries.append_entry(conn, NewEntry(
            contract.id, now or datetime.now(UTC), kind, amount, balance, reason, ticket_id,
            actor.subject))
    return int(contract.id)


MAX_SUMMONS = 200
CLOCK_SKEW = timedelta(minutes=5)


async def summons_records(db: Database, actor: Actor, *, year: int,
                          now: datetime | None = None) -> list[Any]:
    """A year's summonses 约谈 (Asia/Shanghai), oldest first, at most MAX_SUMMONS: staff and
    planners see all, a unit its own."""
    operation = Operation.READ_SUMMONS
    policy.check_role(actor, operation, "summonses are visible to staff, planners and the "
                      "units summoned")
    today = (now or datetime.now(UTC)).astimezone(SHANGHAI).date()
    if not 2000 <= year <= today.year:
        raise bad_input(f"year must be 2000–{today.year}, got {year}", "year")
    units = None if policy.rule_of(actor, operation) is policy.Scope.ANY else list(actor.scopes)
    async with db.connection() as conn:
        return await queries.summons_in(
            conn, start=datetime(year, 1, 1, tzinfo=SHANGHAI),
            end=datetime(year + 1, 1, 1, tzinfo=SHANGHAI), units=units, limit=MAX_SUMMONS)


async def record_summons(db: Database, actor: Actor, *, unit_code: str, at: datetime | None,
                         reason: str, now: datetime | None = None) -> Any:
    """Records a summons of a unit (a property company, a department, a community...)."""
    operation = Operation.RECORD_SUMMONS
    policy.check_role(actor, operation, "summonses are recorded by the county office")
    now = now or datetime.now(UTC)
    if at is not None and at.tzinfo is None:
        raise bad_input("`at` needs a UTC offset, e.g. 2024-03-05T09:00:00+08:00", "input.at")
    if at is not None and (at > now + CLOCK_SKEW or at.astimezone(SHANGHAI).year < 2000):
        raise bad_input("a summons is recorded once held, in 2000 or later", "input.at")
    text = _reason(reason)
    async with db.transaction() as conn:
        if not await place_queries.units_by_code(conn, [unit_code]):
            raise DomainError(ErrorCode.NOT_FOUND, f"no unit {unit_code!r}", "input.unitCode")
        return await queries.insert_summons(conn, unit_code=unit_code, at=at or now,
                                            reason=text, actor=actor.subject)


@dataclass(frozen=True)
class Replacements:
    """The managers replaced in a year, against the managers ranked that year."""

    year: int
    replaced: list[Any]
    managers: int

    @property
    def meets_bottom_share(self) -> bool:
        """At least the bottom 1% of the year's managers (at least one) were replaced."""
        return len(self.replaced) >= max(1, math.ceil(self.managers * BOTTOM_SHARE))


async def manager_replacements(db: Database, actor: Actor, *, year: int,
                               now: datetime | None = None) -> Replacements:
    """Property managers replaced in a year, with the year's count of ranked managers."""
    start, end = _ranked_period(actor, year, None, None, now)
    async with db.connection() as conn:
        rows = await queries.contract_tickets(conn, start=start, end=end)
        replaced = await queries.manager_replacements(conn, start=start, end=end)
    managers = _rank(rows, lambda r: (r.company_code, r.manager_name), manager=True)
    return Replacements(year, replaced, len(managers))
