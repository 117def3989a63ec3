"""Volunteers 志愿者: in-service party members serving as building heads 楼栋长, red-collar
secretaries 红领书记, compound supervisors 小区监督员 and grid workers; their service record,
the yearly compliance check by the duty rule (`db/duty.py`: a talk 谈话提醒 at 2 missed
call-ups in a row, a public criticism notice 通报批评 at 3) and the yearly record reported to
each member's employer.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from db.database import Database
from db.duty import MIN_PARTICIPATIONS as MIN_PARTICIPATIONS
from db.duty import MISSED, PARTICIPATION, Assessment, assess
from db.queries import ticket_updates
from db.queries import volunteers as queries
from db.queries.volunteers import (
    NewService,
    VolunteerFilter,
    YearRecord,
    YearRecordFilter,
)
from db.vocabulary import SHANGHAI
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import limit
from resolvers.policy import Operation

MAX_PAGE = 200
SERVICE_KINDS = PARTICIPATION | {MISSED}
MAX_NOTE = 2000
# Phones' clocks drift; a record a few minutes ahead of ours is still "now".
CLOCK_SKEW = timedelta(minutes=5)




def _check_places(actor: Actor, operation: Operation, places: dict[str, str | None]) -> None:
    """A caller filtering on a place must answer for it."""
    for field, code in places.items():
        policy.check_place(actor, operation, code, field)


def shows_names(actor: Actor) -> bool:
    """Names are personal data: staff see them (within their scope), planners do not."""
    return policy.may(actor, Operation.READ_VOLUNTEER_NAMES)


def encode_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(f"v|{code}".encode()).decode()


def decode_cursor(cursor: str, *, field: str = "after") -> str:
    try:
        kind, code = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        kind, code = "", ""
    if kind != "v" or not code:
        raise bad_input("`after` is not a cursor this API returned", field)
    return code


async def volunteer_page(db: Database, actor: Actor, *, cell_code: str | None,
                         compound_code: str | None, community_code: str | None,
                         role: str | None, first: int,
                         after: str | None) -> tuple[list[Any], bool, int]:
    """Volunteers in code order within the caller's scope: rows, whether more follow, total."""
    operation = Operation.READ_VOLUNTEERS
    policy.check_role(actor, operation, "volunteers are visible to community staff, street "
                      "officers, the county office and planners")
    _check_places(actor, operation, {"cellCode": cell_code, "compoundCode": compound_code,
                                     "communityCode": community_code})
    n = limit(first, cap=MAX_PAGE)
    after_code = decode_cursor(after) if after else None
    f = VolunteerFilter(policy.sql_scopes(actor, operation), cell_code, compound_code,
                        community_code, role)
    async with db.connection() as conn:
        rows, total = await queries.volunteer_page(conn, f, limit=n, after=after_code)
    return rows[:n], len(rows) > n, total


@dataclass(frozen=True)
class ServiceArgs:
    volunteer_code: str
    kind: str
    at: datetime | None = None
    ticket_code: str | None = None
    note: str | None = None


def _when(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if at.tzinfo is None:
        raise bad_input("`at` needs a UTC offset, e.g. 2024-03-05T09:00:00+08:00", "input.at")
    if at > now + CLOCK_SKEW:
        raise bad_input("a service cannot be recorded ahead of time", "input.at")
    if at.astimezone(SHANGHAI).year < 2000:
        raise bad_input("`at` must be in the year 2000 or later", "input.at")
    return at


async def record_service(db: Database, actor: Actor, args: ServiceArgs, *,
                         now: datetime | None = None) -> Any:
    """Records a volunteer's service (or a missed call-up); returns the written record.

    The volunteer and the ticket a service names must both lie in the caller's scope; outside
    it, a code that does not exist gets the same FORBIDDEN as one that does."""
    operation = Operation.RECORD_SERVICE
    policy.check_role(actor, operation, "service is recorded by community staff, street "
                      "officers or the county office")
    if args.kind not in SERVICE_KINDS:
        raise bad_input(f"kind must be one of {sorted(SERVICE_KINDS)}", "input.kind")
    now = now or datetime.now(UTC)
    at = _when(args.at, now)
    note = (args.note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise bad_input(f"note must be at most {MAX_NOTE:,} characters", "input.note")
    if args.kind == "TICKET" and not args.ticket_code:
        raise bad_input("a TICKET service names the ticket it helped with", "input.ticketCode")
    if args.kind != "TICKET" and args.ticket_code:
        raise bad_input("only a TICKET service names a ticket", "input.ticketCode")
    async with db.transaction() as conn:
        volunteer = await queries.volunteer_by_code(conn, args.volunteer_code)
        label = f"volunteer {args.volunteer_code}"
        if volunteer is None:
            raise policy.missing(actor, operation, label, DomainError(
                ErrorCode.NOT_FOUND, f"no volunteer {args.volunteer_code!r}",
                "input.volunteerCode"))
        policy.authorise(actor, operation, policy.place(volunteer.community_code, label))
        ticket_id = None
        if args.ticket_code:
            ticket = await ticket_updates.ticket_for_change(conn, args.ticket_code)
            if ticket is None:
                raise policy.missing(actor, operation, f"ticket {args.ticket_code}", DomainError(
                    ErrorCode.NOT_FOUND, f"no ticket {args.ticket_code!r}", "input.ticketCode"))
            policy.authorise(actor, operation, policy.ticket(ticket))
            ticket_id = ticket.id
        return await queries.insert_service(conn, NewService(
            volunteer.code, at, args.kind, ticket_id, note, actor.subject))


@dataclass(frozen=True)
class MemberCompliance:
    """One member's year as the duty rule judges it."""

    volunteer: Any
    assessment: Assessment


def year_window(year: int, now: datetime) -> tuple[datetime, datetime, bool]:
    """The year's start and end (Asia/Shanghai; a year in progress ends now) and whether the
    year is over."""
    start = datetime(year, 1, 1, tzinfo=SHANGHAI)
    end = datetime(year + 1, 1, 1, tzinfo=SHANGHAI)
    return start, min(end, now), now >= end


async def compliance(db: Database, actor: Actor, *, year: int, community_code: str | None,
                     role: str, now: datetime | None = None) -> tuple[list[MemberCompliance], bool]:
    """Each member's compliance in a year (so far, for the current year), and whether the
    year is complete."""
    operation = Operation.READ_COMPLIANCE
    policy.check_role(actor, operation, "service records are visible to community staff, "
                      "street officers and the county office")
    now = now or datetime.now(UTC)
    f, start, end, complete = _year_of_members(actor, operation, year, community_code, role, now)
    async with db.connection() as conn:
        rows = await queries.services_in_period(conn, f, start=start, end=end)
    return [MemberCompliance(r, assess(r.kinds)) for r in rows], complete


def _year(year: int, now: datetime) -> None:
    if not 2000 <= year <= now.astimezone(SHANGHAI).year:
        raise bad_input(f"year must be 2000–{now.astimezone(SHANGHAI).year}, got {year}", "year")


def _year_of_members(actor: Actor, operation: Operation, year: int, community_code: str | None,
                     role: str, now: datetime) -> tuple[VolunteerFilter, datetime, datetime, bool]:
    """The members in the caller's scope (one community with `community_code`) and the year's
    window (`year_window`), once the year and the community are checked."""
    _year(year, now)
    _check_places(actor, operation, {"communityCode": community_code})
    f = VolunteerFilter(policy.sql_scopes(actor, operation), community_code=community_code,
                        role=role)
    return (f, *year_window(year, now))


async def report_year(db: Database, actor: Actor, *, year: int, community_code: str | None,
                      role: str, now: datetime | None = None) -> list[YearRecord]:
    """Writes each member's record of a finished year, as their employer receives it, within
    the caller's scope (one community with `community_code`); returns the records. Reporting a
    year again writes the records anew (services recorded late count)."""
    operation = Operation.REPORT_DUTY_YEAR
    policy.check_role(actor, operation, "members' years are reported by community staff, "
                      "street officers or the county office")
    now = now or datetime.now(UTC)
    f, start, end, complete = _year_of_members(actor, operation, year, community_code, role, now)
    if not complete:
        raise bad_input(f"{year} is not over yet: a year is reported once it has ended", "year")
    async with db.transaction() as conn:
        rows = await queries.services_in_period(conn, f, start=start, end=end)
        records = [year_record(r, year) for r in rows]
        await queries.report_year(conn, records, reported_at=now, reported_by=actor.subject)
    return records


def year_record(volunteer: Any, year: int) -> YearRecord:
    """A member's record of a year from their row with the year's service kinds (`kinds`)."""
    a = assess(volunteer.kinds)
    return YearRecord(volunteer.code, year, volunteer.community_code, volunteer.employer,
                      a.participations, a.misses, a.longest_miss_run, a.tier)


async def year_records(db: Database, actor: Actor, *, year: int, community_code: str | None,
                       tier: str | None, first: int, after: str | None,
                       now: datetime | None = None) -> tuple[list[Any], bool, int]:
    """Reported records of a year in member code order: staff within their scope, a unit for
    the members it employs; rows, whether more follow, total."""
    operation = Operation.READ_YEAR_RECORDS
    policy.check_role(actor, operation, "members' reported years are visible to community "
                      "staff, street officers, the county office and their employers")
    _year(year, now or datetime.now(UTC))
    n = limit(first, cap=MAX_PAGE)
    after_code = decode_cursor(after) if after else None
    by_employer = policy.scope_key(actor) is policy.ScopeKey.UNIT
    if not by_employer:
        _check_places(actor, operation, {"communityCode": community_code})
    f = YearRecordFilter(year, None if by_employer else policy.sql_scopes(actor, operation),
                         employer_units=list(actor.scopes) if by_employer else None,
                         community_code=community_code, tier=tier)
    async with db.connection() as conn:
        rows, total = await queries.year_record_page(conn, f, limit=n, after=after_code)
    return rows[:n], len(rows) > n, total
