"""The patrol log 巡查日志: grid workers' and supervisors' visits (building, time, position,
findings or "nothing found"), and the county's view of patrol coverage per cell per week,
with proactive tickets (未诉先办: filed on patrol or by a supervisor) apart from residents'.

A visit made offline reaches the server later: it carries the time it was made (at most
`MAX_AGE` back, never ahead) and an idempotency key, so a replay records it once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from db.database import Database
from db.queries import patrols as q
from db.queries import ticket_updates
from db.queries.patrols import PatrolWeek
from db.vocabulary import SHANGHAI
from geo.types import LonLat
from resolvers import policy
from resolvers.actor import Actor
from resolvers.disclosure import disclosure
from resolvers.errors import DomainError, ErrorCode, bad_input, check_same_request
from resolvers.places import locate
from resolvers.policy import Operation

MAX_FINDINGS = 2000
MAX_AGE = timedelta(days=30)
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = timedelta(minutes=5)
# The weeks coverage is asked for (far dates would overflow the time arithmetic).
FIRST_YEAR, LAST_YEAR = 2000, 2100
READERS = "patrol coverage is for community, zone, street and county staff and planners"


@dataclass(frozen=True)
class VisitArgs:
    point: LonLat
    at: datetime | None = None
    building_code: str | None = None
    findings: str | None = None
    ticket_code: str | None = None


def _hash(args: VisitArgs, at: datetime) -> str:
    body = json.dumps([args.point.lon, args.point.lat, at.isoformat(), args.building_code,
                       args.findings, args.ticket_code], ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def _when(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if at.tzinfo is None:  # inputs without an offset are Beijing time
        at = at.replace(tzinfo=SHANGHAI)
    if at > now + CLOCK_SKEW:
        raise bad_input("a visit cannot lie in the future", "input.at")
    if at < now - MAX_AGE:
        raise bad_input("visits older than 30 days are not recorded", "input.at")
    return at


def _same(earlier: Any, digest: str) -> Any:
    check_same_request(earlier.request_hash, digest)
    return earlier


async def record_visit(db: Database, actor: Actor, args: VisitArgs, *,
                       idempotency_key: str | None, now: datetime | None = None) -> Any:
    """Records a patrol visit in the caller's own cells (a supervisor: compounds); returns it.
    The same key and input return the same visit; another input with it is a conflict."""
    operation = Operation.RECORD_PATROL
    policy.check_role(actor, operation, "patrols are recorded by grid workers and supervisors")
    now = now or datetime.now(UTC)
    at = _when(args.at, now)
    findings = (args.findings or "").strip() or None
    if findings is not None and len(findings) > MAX_FINDINGS:
        raise bad_input(f"findings must be at most {MAX_FINDINGS:,} characters", "input.findings")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
        raise bad_input("idempotencyKey must be 1–128 characters", "idempotencyKey")
    args = VisitArgs(args.point, at, args.building_code, findings, args.ticket_code)
    digest = _hash(args, at)
    if idempotency_key is not None:
        async with db.connection() as conn:
            earlier = await q.visit_by_key(conn, actor.subject, idempotency_key)
        if earlier is not None:
            return _same(earlier, digest)
    place = await locate(db, args.point, field="input.point")
    async with db.transaction() as conn:
        if args.building_code:
            home = await q.building(conn, args.building_code)
            if home is None:
                raise DomainError(ErrorCode.NOT_FOUND, f"no building {args.building_code!r}",
                                  "input.buildingCode")
        else:
            home = await q.building_at(conn, args.point.lon, args.point.lat)
        cell = home.cell_code if home else place.cell_code
        compound = home.compound_code if home else place.compound_code
        policy.authorise(actor, operation, policy.Target(
            f"grid cell {cell}", cell_code=cell, compound_code=compound))
        ticket_id = None
        if args.ticket_code:
            ticket = await ticket_updates.ticket_for_change(conn, args.ticket_code)
            if ticket is None or not policy.may(actor, Operation.READ_TICKETS,
                                                policy.ticket(ticket)):
                raise DomainError(ErrorCode.NOT_FOUND, f"no ticket {args.ticket_code!r} in "
                                  "your scope", "input.ticketCode")
            ticket_id = ticket.id
        written = await q.insert_visit(conn, q.NewVisit(
            at=at, worker=actor.subject, cell_code=cell, compound_code=compound,
            building_code=home.code if home else None, lon=args.point.lon, lat=args.point.lat,
            findings=findings, ticket_id=ticket_id, key=idempotency_key,
            request_hash=digest if idempotency_key else None))
    if written is None:  # a concurrent retry with the same key wrote it first
        async with db.connection() as conn:
            return _same(await q.visit_by_key(conn, actor.subject, idempotency_key or ""), digest)
    return written


def week_of(day: date) -> tuple[datetime, datetime]:
    """The Monday-to-Sunday week holding `day`, in Beijing time, as UTC instants."""
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time(), SHANGHAI)
    return start.astimezone(UTC), (start + timedelta(days=7)).astimezone(UTC)


def _checked_week(actor: Actor, day: date, field: str) -> tuple[datetime, datetime]:
    """The week holding `day` for a caller whose role reads patrol coverage (else FORBIDDEN,
    before anything is loaded); one week, in the years coverage is asked for."""
    policy.check_role(actor, Operation.READ_PATROLS, READERS)
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise bad_input(f"{field} must lie in {FIRST_YEAR}–{LAST_YEAR}", field)
    return week_of(day)


def patrol_week(actor: Actor, day: date | None, field: str,
                now: datetime | None = None) -> PatrolWeek:
    """One week of patrols (the week holding `day`; this week in Beijing time when None) over
    the grid cells the caller's scope covers, as the patrol coverage layer 巡查覆盖 draws it."""
    if day is None:
        day = (now or datetime.now(UTC)).astimezone(SHANGHAI).date()
    start, end = _checked_week(actor, day, field)
    scopes = policy.sql_scopes(actor, Operation.READ_PATROLS)
    return PatrolWeek(start, end, scopes=None if scopes is None else tuple(scopes),
                      tickets=disclosure(actor).week_counts())


async def coverage(db: Database, actor: Actor, community_code: str,
                   day: date) -> tuple[datetime, datetime, list[Any]]:
    """Patrol coverage of a community's grid cells in the week holding `day`."""
    operation = Operation.READ_PATROLS
    start, end = _checked_week(actor, day, "weekOf")
    # One community, authorised below as a whole: its every cell.
    week = PatrolWeek(start, end, scopes=None, tickets=disclosure(actor).week_counts())
    label = f"community {community_code}"
    async with db.connection() as conn:
        if not await q.community_exists(conn, community_code):
            raise policy.missing(actor, operation, label, DomainError(
                ErrorCode.NOT_FOUND, f"no community {community_code!r}", "communityCode"))
        policy.authorise(actor, operation, policy.place(community_code, label))
        return start, end, await q.coverage(conn, community_code, week)


async def coverage_by_community(db: Database, actor: Actor, day: date,
                                zone_code: str | None) -> tuple[PatrolWeek, list[Any]]:
    """The week's patrol coverage per community of the caller's scope (of one zone 片区 when
    `zone_code` is given): for planners and the county, the whole county in one answer."""
    week = patrol_week(actor, day, "weekOf")
    policy.check_place(actor, Operation.READ_PATROLS, zone_code, "zoneCode")
    async with db.connection() as conn:
        if zone_code is not None and not await q.zone_exists(conn, zone_code):
            raise DomainError(ErrorCode.NOT_FOUND, f"no zone {zone_code!r}", "zoneCode")
        return week, await q.coverage_by_community(conn, week, zone_code)
