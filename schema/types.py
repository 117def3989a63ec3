"""GraphQL object types; relations resolve through the request's DataLoaders.

Glossary: zone 片区, street 街道, community 社区, compound 小区, grid cell 网格, station 驿站,
ticket 工单.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.base import get_object_definition
from strawberry.utils.str_converters import to_camel_case

from geo.types import Crs
from resolvers import committees, places
from resolvers.errors import DomainError, ErrorCode
from resolvers.vocabulary import labels
from schema.catalogue import DemandItem
from schema.committee_types import OwnersCommittee
from schema.geometry import place_geometry, point_geometry
from schema.notices import PAGE_EDGES, USER_ERRORS
from schema.pagination import PageInfo
from schema.personal_data import reporter_field
from schema.photos import TicketPhoto, ticket_photos
from schema.scalars import FacilityKind, GeoJSON, Level, ServiceRoomStatus, TicketStatus

WGS84 = Crs.WGS84


def _outline(row: Any) -> str | None:
    """The GeoJSON text of a place row listed with its outline (db.queries.places)."""
    return getattr(row, "geojson", None)


@strawberry.type
class Street:
    code: str
    name: str

    @strawberry.field
    async def geometry(self, info: Info, crs: Crs | None = WGS84) -> GeoJSON:
        return await place_geometry(info, "streets", self.code, crs)

    @classmethod
    def of(cls, row: Any) -> Street:
        return cls(code=row.code, name=row.name)


@strawberry.type
class Zone:
    code: str
    name: str
    secretary_name: str
    street_code: strawberry.Private[str]
    outline: strawberry.Private[str | None] = None  # GeoJSON text, when listed with it

    @strawberry.field
    async def geometry(self, info: Info, crs: Crs | None = WGS84) -> GeoJSON:
        return await place_geometry(info, "zones", self.code, crs, self.outline)

    @strawberry.field
    async def street(self, info: Info) -> Street:
        return Street.of(await info.context.loaders.street.load(self.street_code))

    @strawberry.field(description="Its staff 片区工作人员: the secretary, a deputy, coordinators "
                                  "and grid leads, secretary first. All of them (6 in the "
                                  "demo).")
    async def staff(self, info: Info) -> list[ZoneStaffMember]:
        rows = await info.context.loaders.zone_staff.load(self.code)
        return [ZoneStaffMember(code=r.code, name=r.name, post=r.post) for r in rows]

    @strawberry.field(description="All its communities (8 or 9 in the demo), by code.")
    async def communities(self, info: Info) -> list[Community]:
        rows = await info.context.loaders.communities_by_zone.load(self.code)
        return [Community.of(r) for r in rows]

    @classmethod
    def of(cls, row: Any) -> Zone:
        return cls(code=row.code, name=row.name, secretary_name=row.secretary_name,
                   street_code=row.street_code, outline=_outline(row))


@strawberry.type
class ZoneStaffMember:
    code: str
    name: str
    post: str = strawberry.field(description="SECRETARY, DEPUTY_SECRETARY, COORDINATOR or "
                                             "GRID_LEAD.")


@strawberry.type
class Community:
    code: str
    name: str
    households: int
    population: int
    zone_code: strawberry.Private[str]
    street_code: strawberry.Private[str]
    outline: strawberry.Private[str | None] = None  # GeoJSON text, when listed with it

    @strawberry.field
    async def geometry(self, info: Info, crs: Crs | None = WGS84) -> GeoJSON:
        return await place_geometry(info, "communities", self.code, crs, self.outline)

    @strawberry.field
    async def zone(self, info: Info) -> Zone:
        return Zone.of(await info.context.loaders.zone.load(self.zone_code))

    @strawberry.field
    async def street(self, info: Info) -> Street:
        return Street.of(await info.context.loaders.street.load(self.street_code))

    @strawberry.field(description="All its compounds (4 to 6 in the demo), by code.")
    async def compounds(self, info: Info) -> list[Compound]:
        rows = await info.context.loaders.compounds_by_community.load(self.code)
        return [Compound.of(r) for r in rows]

    @strawberry.field(description="All its grid cells (about 10 in the demo), by code.")
    async def grid_cells(self, info: Info) -> list[GridCell]:
        rows = await info.context.loaders.cells_by_community.load(self.code)
        return [GridCell.of(r) for r in rows]

    @classmethod
    def of(cls, row: Any) -> Community:
        return cls(code=row.code, name=row.name, households=row.households,
                   population=row.population, zone_code=row.zone_code,
                   street_code=row.street_code, outline=_outline(row))


async def _community(info: Info, code: str) -> Community:
    return Community.of(await info.context.loaders.community.load(code))


async def compound_of(info: Info, code: str | None) -> Compound | None:
    """The compound of a code (batched per request), or None without one."""
    return Compound.of(await info.context.loaders.compound.load(code)) if code else None


async def cell_of(info: Info, code: str | None) -> GridCell | None:
    """The grid cell of a code (batched per request), or None without one."""
    return GridCell.of(await info.context.loaders.cell.load(code)) if code else None


@strawberry.type
class Compound:
    code: str
    name: str
    households: int
    population: int
    elderly: int = strawberry.field(description="Residents aged 60 and over.")
    children: int = strawberry.field(description="Residents aged 0–14.")
    community_code: strawberry.Private[str]
    center_lon: strawberry.Private[float]
    center_lat: strawberry.Private[float]
    outline: strawberry.Private[str | None] = None  # GeoJSON text, when listed with it

    @strawberry.field
    async def geometry(self, info: Info, crs: Crs | None = WGS84) -> GeoJSON:
        return await place_geometry(info, "compounds", self.code, crs, self.outline)

    @strawberry.field(description="The compound's demand point for coverage: a point on its "
                                  "surface (PostGIS ST_PointOnSurface).")
    def center(self, crs: Crs | None = WGS84) -> GeoJSON:
        return point_geometry(self.center_lon, self.center_lat, crs)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return await _community(info, self.community_code)

    @strawberry.field(description="All its buildings 楼栋 (3 to 20 in the demo), by code.")
    async def buildings(self, info: Info) -> list[Building]:
        rows = await info.context.loaders.buildings_by_compound.load(self.code)
        return [Building.of(r) for r in rows]

    @strawberry.field(description="Its sitting owners' committee 业委会; null without one. Staff "
                                  "within their scope and planners (without names).")
    async def owners_committee(self, info: Info) -> OwnersCommittee | None:
        committees.check_compound(info.context.actor, self.code, self.community_code)
        row = await info.context.loaders.owners_committee.load(self.code)
        return OwnersCommittee.of(row) if row else None

    @classmethod
    def of(cls, row: Any) -> Compound:
        return cls(code=row.code, name=row.name, households=row.households,
                   population=row.population, elderly=row.elderly, children=row.children,
                   community_code=row.community_code, center_lon=row.center_lon,
                   center_lat=row.center_lat, outline=_outline(row))


@strawberry.type
class GridCell:
    code: str
    households: int
    community_code: strawberry.Private[str]
    outline: strawberry.Private[str | None] = None  # GeoJSON text, when listed with it

    @strawberry.field
    async def geometry(self, info: Info, crs: Crs | None = WGS84) -> GeoJSON:
        return await place_geometry(info, "grid_cells", self.code, crs, self.outline)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return await _community(info, self.community_code)

    @classmethod
    def of(cls, row: Any) -> GridCell:
        return cls(code=row.code, households=row.households, community_code=row.community_code,
                   outline=_outline(row))


@strawberry.type
class BuildingHead:
    """A building head 楼栋长: the party member who looks after a building's households."""

    code: str
    name: str


@strawberry.type
class Building:
    """A residential building 楼栋 of a compound, in one grid cell."""

    code: str
    floors: int
    households: int
    compound_code: strawberry.Private[str]
    cell_code: strawberry.Private[str]
    head_code: strawberry.Private[str | None]
    head_name: strawberry.Private[str | None]

    @strawberry.field
    async def geometry(self, info: Info, crs: Crs | None = WGS84) -> GeoJSON:
        return await place_geometry(info, "buildings", self.code, crs)

    @strawberry.field
    async def compound(self, info: Info) -> Compound:
        found = await compound_of(info, self.compound_code)
        assert found is not None  # a building always lies in a compound
        return found

    @strawberry.field
    async def grid_cell(self, info: Info) -> GridCell:
        found = await cell_of(info, self.cell_code)
        assert found is not None  # and in a grid cell
        return found

    @strawberry.field(description="Its building head, for grid workers, supervisors and staff "
                                  "whose scope covers the building; null for anyone else, and "
                                  "while the post is vacant.")
    def head(self, info: Info) -> BuildingHead | None:
        if self.head_code is None or self.head_name is None:
            return None
        if not places.sees_building_head(info.context.actor, self.code, self.cell_code,
                                         self.compound_code):
            return None
        return BuildingHead(code=self.head_code, name=self.head_name)

    @classmethod
    def of(cls, row: Any) -> Building:
        return cls(code=row.code, floors=row.floors, households=row.households,
                   compound_code=row.compound_code, cell_code=row.cell_code,
                   head_code=row.head_code, head_name=row.head_name)


@strawberry.type
class Facility:
    code: str
    name: str
    kind: FacilityKind
    subtype: str | None
    capacity: int | None = strawberry.field(
        description="Seats (stations, canteens), beds (clinic points) or m² (service rooms).")
    operator: str | None
    area_m2: float | None = strawberry.field(description="Floor area of a service room 社服用房.")
    status: ServiceRoomStatus | None = strawberry.field(
        description="A service room's use; null for other kinds.")
    community_code: strawberry.Private[str]
    lon: strawberry.Private[float]
    lat: strawberry.Private[float]

    @strawberry.field
    def geometry(self, crs: Crs | None = WGS84) -> GeoJSON:
        return point_geometry(self.lon, self.lat, crs)

    @strawberry.field(description="The kind's Chinese title: 驿站, 社区诊疗点, 幸福食堂 or 社服用房.")
    def kind_name(self) -> str:
        return labels.FACILITY_KIND_NAMES[FacilityKind(self.kind).value]

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return await _community(info, self.community_code)

    @classmethod
    def of(cls, row: Any) -> Facility:
        return cls(code=row.code, name=row.name, kind=FacilityKind(row.kind),
                   subtype=row.subtype, capacity=row.capacity, operator=row.operator,
                   area_m2=None if row.area_m2 is None else float(row.area_m2),
                   status=ServiceRoomStatus(row.status) if row.status else None,
                   community_code=row.community_code, lon=row.lon, lat=row.lat)


@strawberry.type
class Unit:
    code: str
    name: str
    kind: str

    @classmethod
    def of(cls, row: Any) -> Unit:
        return cls(code=row.code, name=row.name, kind=row.kind)


@strawberry.type
class TicketEvent:
    at: datetime
    action: str
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    note: str | None
    id: strawberry.Private[int | None] = None
    ticket_id: strawberry.Private[int | None] = None

    @strawberry.field(description="Photos that came with this step (see Ticket.photos). At "
                                  "most 5.")
    async def photos(self, info: Info) -> list[TicketPhoto]:
        if self.ticket_id is None or self.id is None:
            return []
        return await ticket_photos(info, self.ticket_id, self.id)

    @classmethod
    def of(cls, row: Any) -> TicketEvent:
        return cls(at=row.at, action=row.action,
                   from_status=TicketStatus(row.from_status) if row.from_status else None,
                   to_status=TicketStatus(row.to_status) if row.to_status else None,
                   note=row.note, id=getattr(row, "id", None),
                   ticket_id=getattr(row, "ticket_id", None))


@strawberry.type
class Ticket:
    code: str
    status: TicketStatus
    level: Level
    item_code: str
    channel: str
    description: str
    priority: int
    created_at: datetime
    due_at: datetime
    updated_at: datetime
    version: int
    rating: int | None
    resolved_at: datetime | None
    closed_at: datetime | None
    id: strawberry.Private[int]
    lon: strawberry.Private[float]
    lat: strawberry.Private[float]
    cell_code: strawberry.Private[str]
    compound_code: strawberry.Private[str | None]
    community_code: strawberry.Private[str]
    unit_code: strawberry.Private[str | None]
    # The raw values, named apart from the GraphQL fields that show them masked.
    reporter_name_on_file: strawberry.Private[str | None]
    reporter_phone_on_file: strawberry.Private[str | None]
    reporter_subject: strawberry.Private[str | None]
    # Rows of TICKET_FIELDS' relations read in the statement that read the ticket, by relation
    # (db/queries/joined.py); None when it was read alone.
    related: strawberry.Private[dict[str, Any] | None] = None

    @strawberry.field
    def geometry(self, crs: Crs | None = WGS84) -> GeoJSON:
        return point_geometry(self.lon, self.lat, crs)

    # `self` is a Ticket or, from `schema.fast`, a ticket row: both carry the raw values.
    @strawberry.field(description="The demand item's Chinese name (诉求事项), e.g. 电梯困人.")
    def item_name(self) -> str:
        return labels.catalogue_items()[self.item_code].name_zh

    @strawberry.field(description="The item's category code, C1–C5.")
    def category_code(self) -> str:
        return labels.catalogue_items()[self.item_code].category_code

    @strawberry.field(description="The item's category in Chinese, e.g. 物业服务.")
    def category_name(self) -> str:
        return labels.catalogue_items()[self.item_code].category_zh

    @strawberry.field(name="reporterName", description="Masked (张**) unless the caller's scope "
                                                       "covers the ticket; unmasked reads are logged.")
    async def reporter_name_as_shown(self, info: Info) -> str | None:
        return await reporter_field(info, self, "reporterName", "reporter_name")

    @strawberry.field(name="reporterPhone", description="Masked (138****1234) unless the caller's "
                                                        "scope covers the ticket; unmasked reads "
                                                        "are logged.")
    async def reporter_phone_as_shown(self, info: Info) -> str | None:
        return await reporter_field(info, self, "reporterPhone", "reporter_phone")

    @strawberry.field
    async def grid_cell(self, info: Info) -> GridCell:
        return await _relation(self, info, "gridCell", self.cell_code)

    @strawberry.field
    async def compound(self, info: Info) -> Compound | None:
        if self.compound_code is None:
            return None
        return await _relation(self, info, "compound", self.compound_code)

    @strawberry.field
    async def community(self, info: Info) -> Community:
        return await _relation(self, info, "community", self.community_code)

    @strawberry.field
    async def responsible_unit(self, info: Info) -> Unit | None:
        if self.unit_code is None:
            return None
        return await _relation(self, info, "responsibleUnit", self.unit_code)

    @strawberry.field(description="The units that cooperate (配合单位) with the lead unit, routed "
                                  "by the item's cooperating unit kinds; in code order. At most "
                                  "one per cooperating kind (0 to 4).")
    async def cooperating_units(self, info: Info) -> list[Unit]:
        return [Unit.of(r) for r in await info.context.loaders.cooperating_units.load(self.id)]

    @strawberry.field(description="The item in the responsibility manual: who leads, who "
                                  "cooperates, its deadline class and legal basis.")
    async def demand_item(self, info: Info) -> DemandItem:
        return DemandItem.of(await info.context.loaders.demand_item.load(self.item_code))

    @strawberry.field(description="Its workflow history 流转记录, oldest first. All of its events "
                                  "(one per step: a handful, a few dozen at most); not paged.")
    async def events(self, info: Info) -> list[TicketEvent]:
        return await _relation(self, info, "events", self.id)

    @strawberry.field(description="Photos of the ticket, oldest first, with signed URLs that "
                                  "expire; only for callers whose scope covers the ticket. All "
                                  "of them (at most 5 a step); not paged.")
    async def photos(self, info: Info) -> list[TicketPhoto]:
        return await ticket_photos(info, self.id)

    @classmethod
    def of(cls, row: Any) -> Ticket:
        return cls(
            code=row.code, status=TicketStatus(row.status), level=Level(row.level),
            item_code=row.item_code, channel=row.channel, description=row.description,
            priority=row.priority, created_at=row.created_at, due_at=row.due_at,
            updated_at=row.updated_at, version=row.version, rating=row.rating,
            resolved_at=row.resolved_at, closed_at=row.closed_at, id=row.id, lon=row.lon,
            lat=row.lat, cell_code=row.cell_code, compound_code=row.compound_code,
            community_code=row.community_code, unit_code=row.unit_code,
            reporter_name_on_file=row.reporter_name, reporter_phone_on_file=row.reporter_phone,
            reporter_subject=row.reporter_subject, related=getattr(row, "related", None),
        )


# The fields of a Ticket that `ticket` loads ahead (schema/lookahead.py): the relation of
# resolvers.tickets.TICKET_RELATIONS each reads (its loader bears the relation's name).
TICKET_FIELDS = {"gridCell": "cell", "compound": "compound", "community": "community",
                 "responsibleUnit": "unit", "events": "events"}


class NotCarried(LookupError):
    """A ticket (a `Ticket`, or a row standing in for one) read without a relation's rows."""


NOT_CARRIED = NotCarried()


def carried(ticket: Any, relation: str) -> Any:
    """The rows of a relation of TICKET_FIELDS read with the ticket (`related`: one row or
    None, or a list for events), or NOT_CARRIED."""
    related = getattr(ticket, "related", None)
    return NOT_CARRIED if related is None else related.get(relation, NOT_CARRIED)


async def _relation(ticket: Any, info: Info, field: str, key: Any) -> Any:
    """A relation field of TICKET_FIELDS, made by TICKET_CARRIED of the rows read with the
    ticket, else of its relation's loader's (the same rows) for `key`."""
    relation = TICKET_FIELDS[field]
    rows = carried(ticket, relation)
    if rows is NOT_CARRIED:
        loader: Any = getattr(info.context.loaders, relation)
        rows = await loader.load(key)
    return TICKET_CARRIED[field](rows)


def _optional(make: Any) -> Any:
    return lambda row: None if row is None else make(row)


# What each relation field of TICKET_FIELDS answers, made from its rows (its resolver makes it
# here too, `_relation`). `schema.fast` answers these fields from the rows when a ticket
# carries them, without the resolver (with the loaders primed instead, a ticket with its four
# places and events took 15 % more CPU); a null row is a null code (the resolvers answer null
# for that).
TICKET_CARRIED: dict[str, Any] = {
    "gridCell": GridCell.of, "compound": _optional(Compound.of), "community": Community.of,
    "responsibleUnit": _optional(Unit.of),
    "events": lambda rows: [TicketEvent.of(r) for r in rows]}
# Ticket fields with a resolver, by the ticket columns they read; a plain field reads the
# column of its Python name. A selection with any other field reads every column.
TICKET_FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "geometry": ("lon", "lat"), "itemName": ("item_code",), "categoryCode": ("item_code",),
    "categoryName": ("item_code",), "demandItem": ("item_code",), "gridCell": ("cell_code",),
    "compound": ("compound_code",), "community": ("community_code",),
    "responsibleUnit": ("unit_code",), "events": ("id",), "cooperatingUnits": ("id",),
    "__typename": ()}


@functools.lru_cache(maxsize=256)
def ticket_columns(names: frozenset[str]) -> tuple[str, ...] | None:
    """The ticket columns a selection of these Ticket fields reads, or None: all of them."""
    plain = {field.graphql_name or to_camel_case(field.python_name): field.python_name
             for field in get_object_definition(Ticket, strict=True).fields
             if field.base_resolver is None}
    columns: list[str] = []
    for name in sorted(names):
        if name in plain:
            columns.append(plain[name])
        elif name in TICKET_FIELD_COLUMNS:
            columns.extend(TICKET_FIELD_COLUMNS[name])
        else:
            return None
    return tuple(columns)



@strawberry.type
class TicketEdge:
    cursor: str
    node: Ticket


@strawberry.type
class TicketConnection:
    edges: list[TicketEdge] = strawberry.field(description=PAGE_EDGES)
    page_info: PageInfo
    total_count: int


@strawberry.type
class TicketHit:
    distance_m: float
    ticket: Ticket


@strawberry.type
class FacilityHit:
    distance_m: float
    facility: Facility


@strawberry.type
class UserError:
    code: ErrorCode
    field: str | None
    message: str


# Who may act is not a property of the input: such failures are top-level GraphQL errors.
TOP_LEVEL = frozenset({ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.RATE_LIMITED})


def user_errors(err: DomainError) -> list[UserError]:
    """A mutation's payload errors for an expected failure; re-raises authorisation failures."""
    if err.code in TOP_LEVEL:
        raise err
    return [UserError(code=err.code, field=err.field, message=err.message)]


@strawberry.type
class DuplicateHint:
    """An open ticket of the same item nearby: to a resident only its code, item and distance
    rounded to 50 m."""

    code: str
    item_code: str
    distance_m: float


@strawberry.type
class TicketPayload:
    ticket: Ticket | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)
    possible_duplicates: list[DuplicateHint] = strawberry.field(
        default_factory=list,
        description="Open tickets of the same item within 100 m from the 30 days before, nearest "
                    "first. At most 20.")
