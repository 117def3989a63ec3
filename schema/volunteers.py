"""Volunteers 志愿者, their service record and yearly compliance: thin fields over
`resolvers/volunteers.py`."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import volunteers
from resolvers.errors import DomainError
from resolvers.volunteers import MAX_PAGE, MemberCompliance, ServiceArgs
from schema.notices import PAGE_EDGES, USER_ERRORS, cap_text
from schema.pagination import PageInfo
from schema.types import (
    Community,
    Compound,
    GridCell,
    UserError,
    cell_of,
    compound_of,
    user_errors,
)


@strawberry.enum(description="What a volunteer does: building head 楼栋长, red-collar secretary "
                             "红领书记, compound supervisor 小区监督员, grid worker 网格员.")
class VolunteerRole(enum.Enum):
    BUILDING_HEAD = "BUILDING_HEAD"
    RED_COLLAR_SECRETARY = "RED_COLLAR_SECRETARY"
    SUPERVISOR = "SUPERVISOR"
    GRID_WORKER = "GRID_WORKER"


@strawberry.enum
class ServiceKind(enum.Enum):
    TICKET = "TICKET"
    ACTIVITY = "ACTIVITY"
    MISSED_CALLUP = "MISSED_CALLUP"


@strawberry.enum(description="Why a member is due a talk (谈话提醒).")
class ComplianceReason(enum.Enum):
    TOO_FEW_PARTICIPATIONS = "TOO_FEW_PARTICIPATIONS"
    CONSECUTIVE_MISSES = "CONSECUTIVE_MISSES"


@strawberry.enum(description="What a member's year comes to under the duty rule: nothing, a "
                             "talk (谈话提醒: fewer than 5 participations or 2 missed call-ups in "
                             "a row) or a public criticism notice (通报批评: 3 in a row).")
class DutyTier(enum.Enum):
    NONE = "NONE"
    TALK = "TALK"
    PUBLIC_CRITICISM = "PUBLIC_CRITICISM"


@strawberry.type
class Volunteer:
    code: str
    name: str | None = strawberry.field(description="Null unless the caller is staff.")
    role: VolunteerRole
    party_member: bool
    employer: str | None = strawberry.field(description="Null unless the caller is staff.")
    building_code: str | None
    cell_code: strawberry.Private[str | None]
    compound_code: strawberry.Private[str | None]
    community_code: strawberry.Private[str]

    @strawberry.field
    async def grid_cell(self, info: Info) -> GridCell | None:
        return await cell_of(info, self.cell_code)

    @strawberry.field
    async def compound(self, info: Info) -> Compound | None:
        return await compound_of(info, self.compound_code)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return Community.of(await info.context.loaders.community.load(self.community_code))

    @classmethod
    def of(cls, row: Any, *, names: bool) -> Volunteer:
        return cls(code=row.code, name=row.name if names else None, role=VolunteerRole(row.role),
                   party_member=row.party_member, employer=row.employer if names else None,
                   building_code=row.building_code, cell_code=row.cell_code,
                   compound_code=row.compound_code, community_code=row.community_code)


@strawberry.type
class VolunteerEdge:
    cursor: str
    node: Volunteer


@strawberry.type
class VolunteerConnection:
    edges: list[VolunteerEdge] = strawberry.field(description=PAGE_EDGES)
    page_info: PageInfo
    total_count: int


@strawberry.type
class VolunteerService:
    id: int
    volunteer_code: str
    at: datetime
    kind: ServiceKind
    ticket_code: str | None
    note: str | None
    recorded_by: str | None

    @classmethod
    def of(cls, row: Any) -> VolunteerService:
        return cls(id=row.id, volunteer_code=row.volunteer_code, at=row.at,
                   kind=ServiceKind(row.kind), ticket_code=row.ticket_code, note=row.note,
                   recorded_by=row.recorded_by)


@strawberry.type
class VolunteerServicePayload:
    service: VolunteerService | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.input
class RecordVolunteerServiceInput:
    volunteer_code: str
    kind: ServiceKind
    at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    ticket_code: str | None = strawberry.field(default=None,
                                               description="Required for a TICKET service.")
    note: str | None = None


@strawberry.type
class MemberComplianceRecord:
    volunteer: Volunteer
    participations: int = strawberry.field(description="TICKET and ACTIVITY services.")
    misses: int
    longest_miss_run: int = strawberry.field(description="Most MISSED_CALLUPs in a row.")
    talk_reminder: bool = strawberry.field(description="Due a talk (谈话提醒).")
    public_criticism: bool = strawberry.field(description="Due a public criticism notice "
                                                          "(通报批评): 3 missed call-ups in a row.")
    tier: DutyTier
    reasons: list[ComplianceReason] = strawberry.field(
        description="Why the member is due a talk. At most one per reason (2).")

    @classmethod
    def of(cls, m: MemberCompliance) -> MemberComplianceRecord:
        a = m.assessment
        return cls(volunteer=Volunteer.of(m.volunteer, names=True),
                   participations=a.participations, misses=a.misses,
                   longest_miss_run=a.longest_miss_run, talk_reminder=bool(a.reasons),
                   public_criticism=a.tier == DutyTier.PUBLIC_CRITICISM.value,
                   tier=DutyTier(a.tier), reasons=[ComplianceReason(r) for r in a.reasons])


@strawberry.type
class VolunteerCompliance:
    year: int
    year_complete: bool = strawberry.field(description="False while the year is in progress: "
                                                       "the counts are those so far.")
    minimum_participations: int
    member_count: int
    flagged_count: int
    public_criticism_count: int
    members: list[MemberComplianceRecord] = strawberry.field(
        description="All members of the role in the caller's scope and the community (2,266 "
                    "building heads county-wide in the demo), or only those flagged; not paged.")


@strawberry.type(description="A member's year under the duty rule, as reported to their "
                             "employer (two-way evaluation 双向评价).")
class VolunteerYearRecord:
    year: int
    volunteer: Volunteer
    employer: str | None = strawberry.field(description="The employer it was reported to.")
    participations: int
    misses: int
    longest_miss_run: int
    tier: DutyTier
    reported_at: datetime

    @classmethod
    def of(cls, row: Any) -> VolunteerYearRecord:
        return cls(year=row.year, volunteer=Volunteer.of(row, names=True),
                   employer=row.reported_employer, participations=row.participations,
                   misses=row.misses, longest_miss_run=row.longest_miss_run,
                   tier=DutyTier(row.tier), reported_at=row.reported_at)


@strawberry.type
class VolunteerYearRecordConnection:
    records: list[VolunteerYearRecord] = strawberry.field(description=PAGE_EDGES)
    page_info: PageInfo
    total_count: int


@strawberry.type
class VolunteerYearReportPayload:
    year: int | None
    reported_count: int
    talk_count: int = strawberry.field(description="Members whose year came to a talk.")
    public_criticism_count: int = strawberry.field(description="Members whose year came to a "
                                                               "public criticism notice.")
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class VolunteerQuery:
    @strawberry.field(description="Volunteers in code order, in pages (staff within their scope; "
                                  "planners without names). "
                                  + cap_text(volunteers.MAX_PAGE) + " Page on with `after`.")
    async def volunteers(self, info: Info, cell_code: str | None = None,
                         compound_code: str | None = None, community_code: str | None = None,
                         role: VolunteerRole | None = None, first: int | None = 50,
                         after: str | None = None) -> VolunteerConnection:
        actor = info.context.actor
        rows, more, total = await volunteers.volunteer_page(
            info.context.db, actor, cell_code=cell_code, compound_code=compound_code,
            community_code=community_code, role=role.value if role else None,
            first=50 if first is None else first, after=after)
        names = volunteers.shows_names(actor)
        edges = [VolunteerEdge(cursor=volunteers.encode_cursor(r.code),
                               node=Volunteer.of(r, names=names)) for r in rows]
        return VolunteerConnection(
            edges=edges, total_count=total,
            page_info=PageInfo(has_next_page=more,
                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="Each member's participations and misses in a year, and who is "
                                  "due a talk (fewer than 5 participations or 2 missed "
                                  "call-ups in a row) or a public criticism notice (3 in a "
                                  "row).")
    async def volunteer_compliance(self, info: Info, year: int, community_code: str | None = None,
                                   role: VolunteerRole | None = VolunteerRole.BUILDING_HEAD,
                                   flagged_only: bool | None = False) -> VolunteerCompliance:
        members, complete = await volunteers.compliance(
            info.context.db, info.context.actor, year=year, community_code=community_code,
            role=(role or VolunteerRole.BUILDING_HEAD).value)
        records = [MemberComplianceRecord.of(m) for m in members]
        flagged = [r for r in records if r.talk_reminder]
        return VolunteerCompliance(
            year=year, year_complete=complete, minimum_participations=volunteers.MIN_PARTICIPATIONS,
            member_count=len(records), flagged_count=len(flagged),
            public_criticism_count=sum(r.public_criticism for r in records),
            members=flagged if flagged_only else records)


    @strawberry.field(description="Members' reported years in member code order, in pages: staff "
                                  "within their scope, a unit for the members it employs. "
                                  + cap_text(MAX_PAGE) + " Page on with `after`.")
    async def volunteer_year_records(self, info: Info, year: int,
                                     community_code: str | None = None,
                                     tier: DutyTier | None = None, first: int | None = 50,
                                     after: str | None = None) -> VolunteerYearRecordConnection:
        rows, more, total = await volunteers.year_records(
            info.context.db, info.context.actor, year=year, community_code=community_code,
            tier=tier.value if tier else None, first=50 if first is None else first, after=after)
        cursor = volunteers.encode_cursor(rows[-1].code) if rows else None
        return VolunteerYearRecordConnection(
            records=[VolunteerYearRecord.of(r) for r in rows], total_count=total,
            page_info=PageInfo(has_next_page=more, end_cursor=cursor))


@strawberry.type
class VolunteerMutation:
    @strawberry.mutation(description="Records a volunteer's service or a missed call-up.")
    async def record_volunteer_service(self, info: Info,
                                       input: RecordVolunteerServiceInput) -> VolunteerServicePayload:
        args = ServiceArgs(volunteer_code=input.volunteer_code, kind=input.kind.value, at=input.at,
                           ticket_code=input.ticket_code, note=input.note)
        try:
            row = await volunteers.record_service(info.context.db, info.context.actor, args)
        except DomainError as err:
            return VolunteerServicePayload(service=None, errors=user_errors(err))
        return VolunteerServicePayload(service=VolunteerService.of(row), errors=[])

    @strawberry.mutation(description="Reports each member's finished year to their employer, "
                                     "within the caller's scope; a year reported again is "
                                     "written anew.")
    async def report_volunteer_year(self, info: Info, year: int,
                                    community_code: str | None = None,
                                    role: VolunteerRole | None = VolunteerRole.BUILDING_HEAD,
                                    ) -> VolunteerYearReportPayload:
        try:
            records = await volunteers.report_year(
                info.context.db, info.context.actor, year=year, community_code=community_code,
                role=(role or VolunteerRole.BUILDING_HEAD).value)
        except DomainError as err:
            return VolunteerYearReportPayload(year=None, reported_count=0, talk_count=0,
                                              public_criticism_count=0, errors=user_errors(err))
        tiers = [r.tier for r in records]
        return VolunteerYearReportPayload(
            year=year, reported_count=len(records), talk_count=tiers.count("TALK"),
            public_criticism_count=tiers.count("PUBLIC_CRITICISM"), errors=[])
