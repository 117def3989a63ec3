"""Community life beyond tickets in GraphQL: social organisations 社会组织, market fairs
万市大集, and the service rooms' 社服用房 ledger with its approval chain."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from resolvers import community_life as life
from resolvers.errors import DomainError
from resolvers.vocabulary import labels
from schema.notices import USER_ERRORS, cap_text
from schema.types import Community, Compound, UserError, compound_of, user_errors

COUNTY = "371329"
FromDay = Annotated[date | None, strawberry.argument(name="from",
                                                     description="First day (Asia/Shanghai).")]
ToDay = Annotated[date | None, strawberry.argument(description="Last day, included.")]


@strawberry.enum
class SocialOrganisationKind(enum.Enum):
    COMMUNITY = "COMMUNITY"  # rooted in a community 社区社会组织
    EXTERNAL = "EXTERNAL"  # a professional organisation brought in 引进的专业社会组织


@strawberry.enum
class SocialField(enum.Enum):
    ELDERLY = "ELDERLY"
    CHILDREN = "CHILDREN"
    DISABILITY = "DISABILITY"
    CULTURE = "CULTURE"
    MEDIATION = "MEDIATION"
    HEALTH = "HEALTH"
    VOLUNTEERING = "VOLUNTEERING"


@strawberry.enum
class RoomUse(enum.Enum):
    USE = "USE"  # the compound's own use: a station, day care, the committee's office
    RENT = "RENT"  # rented out, the rent going to the compound's public account


@strawberry.enum
class RoomApplicationStatus(enum.Enum):
    APPLIED = "APPLIED"
    REVIEWED = "REVIEWED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


async def _communities(info: Info, codes: list[str]) -> list[Community]:
    rows = await info.context.loaders.community.load_many(codes)
    return [Community.of(r) for r in rows if r is not None]


@strawberry.type
class SocialOrganisation:
    """A social organisation 社会组织: rooted in a community, or brought in from outside."""

    code: str
    name: str
    kind: SocialOrganisationKind
    field: SocialField
    since: date
    home_community_code: strawberry.Private[str | None]
    community_codes: strawberry.Private[list[str]]

    @strawberry.field(description="The field in Chinese, e.g. 养老服务.")
    def field_name(self) -> str:
        return labels.SOCIAL_FIELD_NAMES[self.field.value]

    @strawberry.field(description="The community it is rooted in; null for one brought in.")
    async def home_community(self, info: Info) -> Community | None:
        if self.home_community_code is None:
            return None
        return Community.of(await info.context.loaders.community.load(self.home_community_code))

    @strawberry.field(description="The communities it serves, by code. At most every community "
                                  "(1 to 8 in the demo).")
    async def communities(self, info: Info) -> list[Community]:
        return await _communities(info, self.community_codes)

    @classmethod
    def of(cls, row: Any) -> SocialOrganisation:
        return cls(code=row.code, name=row.name, kind=SocialOrganisationKind(row.kind),
                   field=SocialField(row.field), since=row.since,
                   home_community_code=row.home_community_code,
                   community_codes=list(row.community_codes))


@strawberry.type
class MarketFair:
    """A market fair 万市大集 held for a group of neighbouring communities."""

    held_on: date
    stalls: int
    attendance: int = strawberry.field(description="Resident-visits counted on the day.")
    venue_code: strawberry.Private[str]
    community_codes: strawberry.Private[list[str]]

    @strawberry.field(description="The compound it was held at.")
    async def venue(self, info: Info) -> Compound:
        found = await compound_of(info, self.venue_code)
        assert found is not None  # a fair's venue is a compound (a foreign key)
        return found

    @strawberry.field(description="The group's communities, by code. At most 6 (3 or 4 in "
                                  "the demo).")
    async def communities(self, info: Info) -> list[Community]:
        return await _communities(info, self.community_codes)


@strawberry.type
class ServiceRoom:
    """A service room 社服用房 recovered for a compound: its area, status and rent income."""

    code: str
    name: str
    area_m2: float
    status: str
    income: float = strawberry.field(description="Rent paid to the compound's public account "
                                                 "in the period, yuan.")
    compound_code: strawberry.Private[str]

    @strawberry.field(description="The status in Chinese: 闲置, 使用中 or 已出租.")
    def status_name(self) -> str:
        return labels.ROOM_STATUS_NAMES.get(self.status, self.status)

    @strawberry.field
    async def compound(self, info: Info) -> Compound:
        found = await compound_of(info, self.compound_code)
        assert found is not None  # every service room belongs to a compound
        return found


@strawberry.type
class ServiceRoomTotals:
    code: str = strawberry.field(description="A community's code, or 371329 for them all.")
    rooms: int
    recovered_m2: float
    rented_m2: float
    income: float = strawberry.field(description="Rent income in the period, yuan.")


@strawberry.type
class ServiceRoomLedger:
    rooms: list[ServiceRoom] = strawberry.field(
        description="All rooms in the caller's scope (64 in the demo county), by code; "
                    "not paged.")
    totals: list[ServiceRoomTotals] = strawberry.field(
        description="One per community with rooms, by code, then one for all of them.")


@strawberry.type
class RoomApplicationStep:
    at: datetime
    action: str = strawberry.field(description="APPLY, REVIEW, APPROVE or REJECT.")
    actor: str
    note: str | None


@strawberry.type
class ServiceRoomApplication:
    id: int
    room_code: str
    use: RoomUse
    purpose: str
    status: RoomApplicationStatus
    version: int
    created_at: datetime
    steps: list[RoomApplicationStep] = strawberry.field(
        description="Its steps, oldest first. At most 3: apply, review, approve or reject.")


@strawberry.type
class ServiceRoomApplicationPayload:
    application: ServiceRoomApplication | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input
class ApplyForServiceRoomInput:
    room_code: str
    use: RoomUse
    purpose: str
    note: str | None = None


@strawberry.input
class DecideServiceRoomInput:
    id: int
    expected_version: int
    approve: bool
    note: str | None = None


def _money(value: Decimal) -> float:
    return float(value)


def _days(first: date | None, last: date | None) -> tuple[date, date]:
    return first or date(2000, 1, 1), last or date(9999, 12, 31)


@strawberry.type
class CommunityLifeQuery:
    @strawberry.field(description="Social organisations 社会组织 in code order: of a kind and "
                                  "field, serving a community. All that match (95 in the "
                                  "demo); not paged. Public.")
    async def social_organisations(self, info: Info, community_code: str | None = None,
                                   kind: SocialOrganisationKind | None = None,
                                   field: SocialField | None = None) -> list[SocialOrganisation]:
        rows = await life.social_organisations(
            info.context.db, community_code=community_code, kind=kind.value if kind else None,
            field=field.value if field else None)
        return [SocialOrganisation.of(r) for r in rows]

    @strawberry.field(description="Market fairs 万市大集 held from..to (at most 3 years), of a "
                                  "community's group, in date order. Public. "
                                  + cap_text(life.MAX_FAIRS))
    async def market_fairs(self, info: Info, from_: Annotated[date, strawberry.argument(
                               name="from", description="First day (Asia/Shanghai).")],
                           to: Annotated[date, strawberry.argument(
                               description="Last day, included.")],
                           community_code: str | None = None,
                           first: int | None = 100) -> list[MarketFair]:
        rows = await life.market_fairs(info.context.db, first=from_, last=to,
                                       community_code=community_code,
                                       first_n=100 if first is None else first)
        return [MarketFair(held_on=r.held_on, stalls=r.stalls, attendance=r.attendance,
                           venue_code=r.venue_compound_code,
                           community_codes=list(r.community_codes)) for r in rows]

    @strawberry.field(description="The service rooms' 社服用房 ledger: each room's area, status "
                                  "and rent income from..to (days; the whole record when not "
                                  "given), and totals per community and for them all. "
                                  "Supervisors and staff within their scope, planners.")
    async def service_rooms(self, info: Info, community_code: str | None = None,
                            from_: FromDay = None, to: ToDay = None) -> ServiceRoomLedger:
        first, last = _days(from_, to)
        rows = await life.service_rooms(info.context.db, info.context.actor,
                                        community_code=community_code, first=first, last=last)
        rooms = [ServiceRoom(code=r.code, name=r.name, area_m2=float(r.area_m2),
                             status=r.status, income=_money(r.income),
                             compound_code=r.compound_code) for r in rows]
        totals = [ServiceRoomTotals(code=t.code, rooms=t.rooms,
                                    recovered_m2=float(t.recovered_m2),
                                    rented_m2=float(t.rented_m2), income=_money(t.income))
                  for t in life.totals(rows, COUNTY)]
        return ServiceRoomLedger(rooms=rooms, totals=totals)

    @strawberry.field(description="Applications for service rooms, newest first, with their "
                                  "steps. " + cap_text(life.MAX_APPLICATIONS))
    async def service_room_applications(
            self, info: Info, community_code: str | None = None,
            status: list[RoomApplicationStatus] | None = None,
            first: int | None = 50) -> list[ServiceRoomApplication]:
        rows, steps = await life.applications(
            info.context.db, info.context.actor, community_code=community_code,
            statuses=[s.value for s in status] if status is not None else None,
            first=50 if first is None else first)
        return [_application(r, steps) for r in rows]


def _application(row: Any, steps: list[Any]) -> ServiceRoomApplication:
    return ServiceRoomApplication(
        id=row.id, room_code=row.room_code, use=RoomUse(row.use), purpose=row.purpose,
        status=RoomApplicationStatus(row.status), version=row.version,
        created_at=row.created_at,
        steps=[RoomApplicationStep(at=s.at, action=s.action, actor=s.actor, note=s.note)
               for s in steps if s.application_id == row.id])


async def _reread(info: Info, application_id: int) -> ServiceRoomApplicationPayload:
    rows, steps = await life.applications(info.context.db, info.context.actor,
                                          community_code=None, statuses=None, first=1,
                                          application_id=application_id)
    return ServiceRoomApplicationPayload(
        application=_application(rows[0], steps) if rows else None, errors=[])


def _now() -> datetime:
    return datetime.now(UTC)


def _failed(err: DomainError) -> ServiceRoomApplicationPayload:
    return ServiceRoomApplicationPayload(application=None, errors=user_errors(err))


@strawberry.type
class CommunityLifeMutation:
    @strawberry.mutation(description="Enters an owners' committee's application for an idle "
                                     "service room (the compound's supervisor or community "
                                     "staff): its first step, APPLIED.")
    async def apply_for_service_room(self, info: Info,
                                     input: ApplyForServiceRoomInput) -> ServiceRoomApplicationPayload:
        try:
            application_id = await life.apply(
                info.context.db, info.context.actor, room_code=input.room_code,
                use=input.use.value, purpose=input.purpose, note=input.note, now=_now())
        except DomainError as err:
            return _failed(err)
        return await _reread(info, application_id)

    @strawberry.mutation(description="The community party organisation's review (community "
                                     "staff): APPLIED → REVIEWED, or REJECTED.")
    async def review_service_room_application(
            self, info: Info, input: DecideServiceRoomInput) -> ServiceRoomApplicationPayload:
        return await _decide(info, "REVIEW", input)

    @strawberry.mutation(description="The street's approval (street officers): REVIEWED → "
                                     "APPROVED, putting the room in use or renting it out; or "
                                     "REJECTED.")
    async def approve_service_room_application(
            self, info: Info, input: DecideServiceRoomInput) -> ServiceRoomApplicationPayload:
        return await _decide(info, "APPROVE", input)


async def _decide(info: Info, step: str,
                  input: DecideServiceRoomInput) -> ServiceRoomApplicationPayload:
    try:
        application_id = await life.decide(
            info.context.db, info.context.actor, step, application_id=input.id,
            expected_version=input.expected_version, approve=input.approve, note=input.note,
            now=_now())
    except DomainError as err:
        return _failed(err)
    return await _reread(info, application_id)
