"""Planner analytics 规划分析: thin fields over `resolvers/planning.py`."""

from __future__ import annotations

import enum
from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from geo.types import Crs, LonLat
from resolvers import planning
from resolvers.disclosure import MIN_COUNT
from schema.geometry import point_geometry
from schema.inputs import PointInput
from schema.scalars import FacilityKind, GeoJSON, Level
from schema.types import Community, Compound, Facility

WGS84 = Crs.WGS84


@strawberry.enum(description="What a compound weighs in coverage: its households, residents, "
                             "residents aged 60+ or aged 0–14.")
class CoverageWeight(enum.Enum):
    HOUSEHOLDS = "HOUSEHOLDS"
    POPULATION = "POPULATION"
    ELDERLY = "ELDERLY"
    CHILDREN = "CHILDREN"


@strawberry.enum(description="Where suggested sites may go: compound centres, grid cell centres "
                             "or idle service rooms 社服用房.")
class CandidateSet(enum.Enum):
    COMPOUND_CENTERS = "COMPOUND_CENTERS"
    GRID_CELL_CENTERS = "GRID_CELL_CENTERS"
    SERVICE_ROOMS = "SERVICE_ROOMS"


@strawberry.type
class AreaCoverage:
    code: str
    name: str
    total: float
    covered: float
    share: float

    @classmethod
    def of(cls, a: planning.AreaCoverage) -> AreaCoverage:
        return cls(code=a.code, name=a.name, total=a.total, covered=a.covered, share=a.share)


async def _compound(info: Info, code: str) -> Compound:
    return Compound.of(await info.context.loaders.compound.load(code))


@strawberry.type
class CompoundReach:
    weight: float
    distance_m: float | None = strawberry.field(
        description="Geodesic metres from the compound's centre to the nearest open facility of "
                    "the kind; null when there is none.")
    nearest_proposal: int | None = strawberry.field(
        description="In `whatIf`: the index in `add` of the proposed point that is nearest; "
                    "`nearest` is then null.")
    compound_code: strawberry.Private[str]
    nearest_code: strawberry.Private[str | None]

    @strawberry.field
    async def compound(self, info: Info) -> Compound:
        return await _compound(info, self.compound_code)

    @strawberry.field
    async def nearest(self, info: Info) -> Facility | None:
        if self.nearest_code is None:
            return None
        rows = await info.context.loaders.facility.load(self.nearest_code)
        return Facility.of(rows)

    @classmethod
    def of(cls, r: planning.Reach) -> CompoundReach:
        return cls(weight=r.weight, distance_m=r.distance_m, nearest_proposal=r.nearest_added,
                   compound_code=r.code, nearest_code=r.nearest_code)


UncoveredFirst = Annotated[int | None, strawberry.argument(description="At most 1,000.")]


@strawberry.type
class Coverage:
    kind: FacilityKind
    radius_m: float
    weight: CoverageWeight
    total: float
    covered: float
    share: float
    result: strawberry.Private[planning.Coverage]

    @strawberry.field(description="Uncovered compounds, heaviest first. At most `first` "
                                  "(≤ 1,000; 50 when not given).")
    def uncovered(self, first: UncoveredFirst = 50) -> list[CompoundReach]:
        return [CompoundReach.of(r) for r in self.result.uncovered(50 if first is None else first)]

    @strawberry.field(description="One per community (43 in the demo), by code.")
    def by_community(self) -> list[AreaCoverage]:
        return [AreaCoverage.of(a) for a in self.result.by_community()]

    @strawberry.field(description="One per zone (5 in the demo), by code.")
    def by_zone(self) -> list[AreaCoverage]:
        return [AreaCoverage.of(a) for a in self.result.by_zone()]

    @strawberry.field(description="One per street (2 in the demo), by code.")
    def by_street(self) -> list[AreaCoverage]:
        return [AreaCoverage.of(a) for a in self.result.by_street()]

    @classmethod
    def of(cls, c: planning.Coverage) -> Coverage:
        return cls(kind=FacilityKind(c.kind), radius_m=c.radius_m, weight=CoverageWeight(c.weight),
                   total=c.total, covered=c.covered, share=c.share, result=c)


@strawberry.type
class SuggestedSite:
    rank: int
    gain: float = strawberry.field(description="Weight newly covered by this site after the "
                                               "sites ranked before it.")
    lon: strawberry.Private[float]
    lat: strawberry.Private[float]
    compound_code: strawberry.Private[str | None]
    room_code: strawberry.Private[str | None]

    @strawberry.field
    def point(self, crs: Crs | None = WGS84) -> GeoJSON:
        return point_geometry(self.lon, self.lat, crs)

    @strawberry.field(description="The compound whose centre the site is, if any.")
    async def compound(self, info: Info) -> Compound | None:
        return None if self.compound_code is None else await _compound(info, self.compound_code)

    @strawberry.field(description="The idle service room the site is, if any.")
    async def service_room(self, info: Info) -> Facility | None:
        if self.room_code is None:
            return None
        return Facility.of(await info.context.loaders.facility.load(self.room_code))

    @classmethod
    def of(cls, s: planning.SuggestedSite) -> SuggestedSite:
        c = s.candidate
        return cls(rank=s.rank, gain=s.gain, lon=c.point.lon, lat=c.point.lat,
                   compound_code=c.compound_code, room_code=c.room_code)


@strawberry.type
class SiteSuggestion:
    sites: list[SuggestedSite] = strawberry.field(
        description="Best first. At most `count` (≤ 100): sites that would add nothing are "
                    "left out.")
    covered_before: float
    covered_after: float = strawberry.field(description="Includes today's facilities when "
                                                        "they are kept.")
    share_after: float
    curve: list[float] = strawberry.field(
        description="The covered share after i+1 sites. One per site: at most `count` (≤ 100).")
    optimal: bool = strawberry.field(description="True only when the maximal covering problem "
                                                 "was solved to proven optimality.")
    bound: float = strawberry.field(description="An upper bound on the covered weight of any "
                                                "choice of `count` sites.")
    gap: float = strawberry.field(description="(bound − coveredAfter) / bound.")
    solve_ms: float
    method: str

    @classmethod
    def of(cls, s: planning.SiteSuggestion) -> SiteSuggestion:
        return cls(sites=[SuggestedSite.of(x) for x in s.sites], covered_before=s.covered_before,
                   covered_after=s.covered_after, share_after=s.share_after, curve=s.curve,
                   optimal=s.optimal, bound=s.bound, gap=s.gap, solve_ms=round(s.solve_ms, 3),
                   method=s.method)


@strawberry.type
class WhatIf:
    before: Coverage
    after: Coverage
    newly_covered: list[CompoundReach] = strawberry.field(
        description="Compounds the change brings within reach. At most every compound (230 in "
                    "the demo).")
    newly_uncovered: list[CompoundReach] = strawberry.field(
        description="Compounds the change leaves out of reach. At most every compound.")

    @classmethod
    def of(cls, w: planning.WhatIf) -> WhatIf:
        return cls(before=Coverage.of(w.before), after=Coverage.of(w.after),
                   newly_covered=[CompoundReach.of(r) for r in w.newly_covered()],
                   newly_uncovered=[CompoundReach.of(r) for r in w.newly_uncovered()])


@strawberry.type
class MarketGroup:
    number: int
    max_distance_m: float = strawberry.field(
        description="The greatest geodesic distance between two members' centroids.")
    community_codes: strawberry.Private[list[str]]
    venue_code: strawberry.Private[str | None]

    @strawberry.field(description="The group's communities: minSize–maxSize of them, at most 6.")
    async def communities(self, info: Info) -> list[Community]:
        rows = await info.context.loaders.community.load_many(self.community_codes)
        return [Community.of(r) for r in rows]

    @strawberry.field(description="A compound near the group's population-weighted centre.")
    async def venue(self, info: Info) -> Compound | None:
        return None if self.venue_code is None else await _compound(info, self.venue_code)

    @classmethod
    def of(cls, g: planning.MarketGroup) -> MarketGroup:
        return cls(number=g.number, max_distance_m=round(g.max_distance_m, 1),
                   community_codes=g.communities, venue_code=g.venue)


@strawberry.type(description="A count and its share of the area's tickets; null where withheld "
                             f"(fewer than {MIN_COUNT} for callers without exact counts).")
class TicketShare:
    key: str = strawberry.field(description="Channel, item code or month (YYYY-MM).")
    name: str
    tickets: int | None
    share: float | None

    @classmethod
    def of(cls, s: planning.Share) -> TicketShare:
        return cls(key=s.key, name=s.name, tickets=s.tickets,
                   share=None if s.share is None else round(s.share, 6))


@strawberry.type(description="Tickets created in a period in one area. Null counts are withheld: "
                             "every count of the row for callers outside the area's scope.")
class AreaStats:
    code: str
    name: str
    exact: bool = strawberry.field(
        description="Whether counts are exact; false: every count withheld (an area is a "
                    "union of grid cells, whose counts of every ticket ticket tiles show, and "
                    "their sum minus the area's months would give its withheld months).")
    tickets: int | None
    resolved: int | None
    on_time_rate: float | None = strawberry.field(
        description="Share of resolved tickets resolved by their deadline.")
    mean_handling_hours: float | None = strawberry.field(
        description="Mean hours from creation to resolution.")
    rated: int | None
    mean_rating: float | None = strawberry.field(description="1–5 stars.")
    month_on_month: float | None = strawberry.field(
        description="Relative change of volume on the same days a month before.")
    year_on_year: float | None = strawberry.field(
        description="Relative change of volume on the same days a year before.")
    channels: list[TicketShare] = strawberry.field(
        description="Volume by channel: at most 8. With exact counts one per channel with "
                    f"tickets; otherwise every channel, null under {MIN_COUNT} (0, 1 and 2 "
                    "alike) and, with those, the smallest others until the tickets not shown "
                    f"are none or at least {MIN_COUNT}.")
    top_items: list[TicketShare] = strawberry.field(
        description="The commonest demand items: at most 5. Without exact counts only items "
                    f"with at least {MIN_COUNT} tickets, withheld together as channels are.")
    months: list[TicketShare] = strawberry.field(
        description="Volume by month (Asia/Shanghai). One per month of from..to, null under "
                    f"{MIN_COUNT} without exact counts: at most 37 (a period is at most 3 "
                    "years).")

    @classmethod
    def of(cls, a: planning.AreaStats) -> AreaStats:
        def r(x: float | None, digits: int = 4) -> float | None:
            return None if x is None else round(x, digits)

        return cls(code=a.code, name=a.name, exact=a.exact, tickets=a.tickets,
                   resolved=a.resolved, on_time_rate=r(a.on_time_rate),
                   mean_handling_hours=r(a.mean_handling_hours, 2), rated=a.rated,
                   mean_rating=r(a.mean_rating, 3), month_on_month=r(a.month_on_month),
                   year_on_year=r(a.year_on_year),
                   channels=[TicketShare.of(x) for x in a.channels],
                   top_items=[TicketShare.of(x) for x in a.top_items],
                   months=[TicketShare.of(x) for x in a.months])


From = Annotated[date, strawberry.argument(name="from", description="First day (Asia/Shanghai).")]
To = Annotated[date, strawberry.argument(description="Last day (Asia/Shanghai), included.")]


Radius = Annotated[float, strawberry.argument(description="Walking radius in metres, (0, 5,000]; "
                                                          "life circles: 300, 500, 1,000.")]


def _points(points: list[PointInput] | None, field: str) -> list[LonLat]:
    return [p.wgs84(f"{field}.{n}") for n, p in enumerate(points or [])]


HOUSEHOLDS = CoverageWeight.HOUSEHOLDS


def _weight(weight: CoverageWeight | None) -> str:
    return (weight or HOUSEHOLDS).value


@strawberry.type
class PlanningQuery:
    @strawberry.field(description="Compounds within radiusM geodesic metres of an open facility "
                                  "of the kind. Planners, street officers, county office.")
    async def coverage(self, info: Info, kind: FacilityKind, radius_m: Radius,
                       weight: CoverageWeight | None = HOUSEHOLDS) -> Coverage:
        ctx = info.context
        return Coverage.of(await planning.coverage(ctx.db, ctx.actor, kind=kind.value,
                                                   radius_m=radius_m, weight=_weight(weight)))

    @strawberry.field(description="Where the next `count` facilities of a kind cover the most "
                                  "weight (maximal covering; MILP with CBC, proved optimal "
                                  "where it can be within timeLimitS).")
    async def suggest_sites(self, info: Info, kind: FacilityKind, count: int, radius_m: Radius,
                            weight: CoverageWeight | None = HOUSEHOLDS,
                            candidates: CandidateSet | None = CandidateSet.COMPOUND_CENTERS,
                            extra_candidates: list[PointInput] | None = None,
                            keep_existing: bool | None = True,
                            time_limit_s: float | None = 10.0) -> SiteSuggestion:
        ctx = info.context
        request = planning.SiteRequest(
            kind=kind.value, count=count, radius_m=radius_m, weight=_weight(weight),
            candidates=(candidates or CandidateSet.COMPOUND_CENTERS).value,
            extra_candidates=_points(extra_candidates, "extraCandidates"),
            keep_existing=keep_existing is not False,
            time_limit_s=10.0 if time_limit_s is None else time_limit_s)
        return SiteSuggestion.of(await planning.suggest_sites(ctx.db, ctx.actor, request))

    @strawberry.field(description="Coverage today and with facilities added at points and/or "
                                  "removed by code.")
    async def what_if(self, info: Info, kind: FacilityKind, radius_m: Radius,
                      weight: CoverageWeight | None = HOUSEHOLDS,
                      add: list[PointInput] | None = [],  # noqa: B006 - read only
                      remove_codes: list[str] | None = [],  # noqa: B006 - read only
                      ) -> WhatIf:
        ctx = info.context
        return WhatIf.of(await planning.what_if(
            ctx.db, ctx.actor, kind=kind.value, radius_m=radius_m, weight=_weight(weight),
            add=_points(add, "add"), remove_codes=remove_codes or []))

    @strawberry.field(description="Communities partitioned into groups of minSize–maxSize that "
                                  "share borders, for the monthly market fair 万市大集, with the "
                                  "least sum of distances within groups (an exact optimum). "
                                  "One per group: every community in exactly one, so at most "
                                  "43 / minSize groups in the demo.")
    async def market_groups(self, info: Info, min_size: int | None = 3,
                            max_size: int | None = 4) -> list[MarketGroup]:
        ctx = info.context
        groups = await planning.market_groups(
            ctx.db, ctx.actor, min_size=3 if min_size is None else min_size,
            max_size=4 if max_size is None else max_size)
        return [MarketGroup.of(g) for g in groups]

    @strawberry.field(description="Ticket statistics per community, street or the county (per "
                                  "zone 片区 with level STREET and byZone) for tickets created "
                                  "from..to. Planners, street officers, county office. One per "
                                  "area of the level (at most 43 communities in the demo), or "
                                  "one for the county.")
    async def area_stats(self, info: Info, level: Level, from_: From, to: To,
                         code: str | None = None, by_zone: bool | None = False) -> list[AreaStats]:
        ctx = info.context
        rows = await planning.area_stats(ctx.db, ctx.actor, level=level.value, first=from_,
                                         last=to, code=code, by_zone=bool(by_zone))
        return [AreaStats.of(a) for a in rows]
