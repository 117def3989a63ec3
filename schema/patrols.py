"""The patrol log 巡查日志: thin fields over `resolvers/patrols.py`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from geo.types import Crs
from resolvers import patrols
from resolvers.errors import DomainError
from resolvers.patrols import VisitArgs
from schema.geometry import point_geometry
from schema.inputs import PointInput
from schema.notices import USER_ERRORS
from schema.scalars import GeoJSON
from schema.types import UserError, user_errors


@strawberry.input
class PatrolVisitInput:
    point: PointInput
    at: datetime | None = strawberry.field(
        default=None, description="When the visit was made (a phone offline sends it later); "
                                  "now when left out. At most 30 days back.")
    building_code: str | None = strawberry.field(
        default=None, description="The building 楼栋 visited; else the one at the point.")
    findings: str | None = strawberry.field(
        default=None, description="What was found; empty or null: nothing found.")
    ticket_code: str | None = strawberry.field(
        default=None, description="The ticket filed for what was found (未诉先办).")


@strawberry.type(description="A patrol visit 巡查 by a grid worker or a supervisor.")
class PatrolVisit:
    at: datetime
    cell_code: str
    compound_code: str | None
    building_code: str | None
    findings: str | None
    ticket_code: str | None
    lon: strawberry.Private[float]
    lat: strawberry.Private[float]

    @strawberry.field
    def nothing_found(self) -> bool:
        return self.findings is None

    @strawberry.field
    def geometry(self, crs: Crs | None = Crs.WGS84) -> GeoJSON:
        return point_geometry(self.lon, self.lat, crs)

    @classmethod
    def of(cls, row: Any) -> PatrolVisit:
        return cls(at=row.at, cell_code=row.cell_code, compound_code=row.compound_code,
                   building_code=row.building_code, findings=row.findings,
                   ticket_code=row.ticket_code, lon=row.lon, lat=row.lat)


@strawberry.type
class PatrolVisitPayload:
    visit: PatrolVisit | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


PROACTIVE = "Tickets filed on patrol or by a supervisor (未诉先办) that week."
WEEK_COUNTS = (" Null for callers who see no ticket records (planners), who count tickets by "
               "whole months (the disclosure rule).")


@strawberry.type(description="One grid cell's patrols in a week.")
class CellPatrols:
    cell_code: str
    visits: int
    buildings_visited: int
    buildings: int
    visits_with_findings: int
    proactive_tickets: int | None = strawberry.field(description=PROACTIVE + WEEK_COUNTS)
    resident_tickets: int | None = strawberry.field(
        description="Tickets from residents' demands (hotline, online, reception day, …)."
        + WEEK_COUNTS)


@strawberry.type
class PatrolWeekSpan:
    week_start: datetime
    week_end: datetime


@strawberry.type
class PatrolCoverage(PatrolWeekSpan):
    cells: list[CellPatrols] = strawberry.field(
        description="One per grid cell of the community, by code.")


@strawberry.type(description="One community's patrols in a week, summed over its grid cells.")
class CommunityPatrols:
    community_code: str
    name: str
    cells: int = strawberry.field(description="Grid cells of the community in the caller's scope.")
    cells_visited: int = strawberry.field(description="Cells with at least one visit.")
    visits: int
    visits_with_findings: int
    proactive_tickets: int | None = strawberry.field(description=PROACTIVE + WEEK_COUNTS)
    resident_tickets: int | None = strawberry.field(description=WEEK_COUNTS.strip())

    @strawberry.field(description="Cells nobody walked that week.")
    def cells_not_visited(self) -> int:
        return self.cells - self.cells_visited


@strawberry.type
class PatrolCoverageByCommunity(PatrolWeekSpan):
    communities: list[CommunityPatrols] = strawberry.field(
        description="One per community of the caller's scope (of the zone when given), by code.")


@strawberry.type
class PatrolMutation:
    @strawberry.mutation(description="Records a patrol visit in the caller's cells; the same "
                                     "idempotencyKey and input give the same visit.")
    async def record_patrol_visit(self, info: Info, input: PatrolVisitInput,
                                  idempotency_key: str | None = None) -> PatrolVisitPayload:
        try:
            args = VisitArgs(point=input.point.wgs84("input.point"), at=input.at,
                             building_code=input.building_code, findings=input.findings,
                             ticket_code=input.ticket_code)
            row = await patrols.record_visit(info.context.db, info.context.actor, args,
                                             idempotency_key=idempotency_key)
        except DomainError as err:
            return PatrolVisitPayload(visit=None, errors=user_errors(err))
        return PatrolVisitPayload(visit=PatrolVisit.of(row), errors=[])


@strawberry.type
class PatrolQuery:
    @strawberry.field(description="Patrol coverage of a community's grid cells in the "
                                  "Monday-to-Sunday week (Beijing time) holding `weekOf`.")
    async def patrol_coverage(self, info: Info, community_code: str,
                              week_of: date) -> PatrolCoverage:
        start, end, rows = await patrols.coverage(info.context.db, info.context.actor,
                                                  community_code, week_of)
        return PatrolCoverage(week_start=start, week_end=end, cells=[CellPatrols(
            cell_code=r.cell_code, visits=r.visits, buildings_visited=r.buildings_visited,
            buildings=r.buildings, visits_with_findings=r.with_findings,
            proactive_tickets=r.proactive, resident_tickets=r.reported) for r in rows])

    @strawberry.field(description="Patrol coverage of the Monday-to-Sunday week (Beijing time) "
                                  "holding `weekOf`, summed per community over the grid cells "
                                  "of the caller's scope (the county office and planners: the "
                                  "whole county), or of one zone 片区.")
    async def patrol_coverage_by_community(self, info: Info, week_of: date,
                                           zone_code: str | None = None,
                                           ) -> PatrolCoverageByCommunity:
        week, rows = await patrols.coverage_by_community(info.context.db, info.context.actor,
                                                         week_of, zone_code)
        return PatrolCoverageByCommunity(week_start=week.start, week_end=week.end, communities=[
            CommunityPatrols(community_code=r.community_code, name=r.name, cells=r.cells,
                             cells_visited=r.cells_visited, visits=r.visits,
                             visits_with_findings=r.with_findings,
                             proactive_tickets=r.proactive, resident_tickets=r.reported)
            for r in rows])
