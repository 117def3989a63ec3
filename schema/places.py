"""Queries over places and tickets: thin fields that delegate to `resolvers/`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from resolvers import places, tickets
from schema.inputs import BBoxInput, PointInput, TicketFilter, bbox_or_none
from schema.location import LOCATION_FIELDS, Location, facilities_ahead
from schema.lookahead import names_under, prime, selected, wanted
from schema.notices import cap_text, first_capped
from schema.pagination import PageInfo
from schema.scalars import FacilityKind, TicketStatus, enum_values
from schema.types import (
    TICKET_FIELDS,
    Building,
    Community,
    Compound,
    Facility,
    GridCell,
    Ticket,
    TicketConnection,
    TicketEdge,
    TicketHit,
    Zone,
    ticket_columns,
)

T = TypeVar("T")


async def _listed(info: Info, table: str, bbox: BBoxInput | None = None,
                  **equal: Any) -> list[Any]:
    """Rows of a place list. When the selection asks for `geometry`, the outlines come in the
    same statement (one statement, not two; nothing to load per place)."""
    wants = "geometry" in selected(info)
    return await places.list_places(info.context.db, table, bbox=bbox_or_none(bbox),
                                    geojson=wants, **equal)


async def _one(info: Info, table: str, of: Callable[[Any], T], code: str) -> T | None:
    row = await places.place(info.context.db, table, code)
    return of(row) if row else None


@strawberry.type
class PlaceQuery:
    @strawberry.field(description="All zones 片区 (5 in the demo), by code; not paged.")
    async def zones(self, info: Info) -> list[Zone]:
        return [Zone.of(r) for r in await _listed(info, "zones")]

    @strawberry.field(description="Communities 社区, by zone and/or intersecting a box. All that "
                                  "match (at most the county's 43 in the demo); not paged.")
    async def communities(self, info: Info, zone_code: str | None = None,
                          bbox: BBoxInput | None = None) -> list[Community]:
        return [Community.of(r) for r in await _listed(info, "communities", bbox,
                                                       zone_code=zone_code)]

    @strawberry.field(description="One zone by its code; null if there is none.")
    async def zone(self, info: Info, code: str) -> Zone | None:
        return await _one(info, "zones", Zone.of, code)

    @strawberry.field(description="One community by its code; null if there is none.")
    async def community(self, info: Info, code: str) -> Community | None:
        return await _one(info, "communities", Community.of, code)

    @strawberry.field(description="One compound by its code; null if there is none.")
    async def compound(self, info: Info, code: str) -> Compound | None:
        return await _one(info, "compounds", Compound.of, code)

    @strawberry.field(description="One grid cell by its 15-digit code; null if there is none.")
    async def grid_cell(self, info: Info, code: str) -> GridCell | None:
        return await _one(info, "grid_cells", GridCell.of, code)

    @strawberry.field(description="One building 楼栋 by its code; null if there is none.")
    async def building(self, info: Info, code: str) -> Building | None:
        return await _one(info, "buildings", Building.of, code)

    @strawberry.field(description="One facility by its code; null if there is none.")
    async def facility(self, info: Info, code: str) -> Facility | None:
        return await _one(info, "facilities", Facility.of, code)

    @strawberry.field(description="Compounds 小区, by community and/or intersecting a box. All "
                                  "that match (at most the county's 230 in the demo); not paged.")
    async def compounds(self, info: Info, community_code: str | None = None,
                        bbox: BBoxInput | None = None) -> list[Compound]:
        return [Compound.of(r) for r in await _listed(info, "compounds", bbox,
                                                      community_code=community_code)]

    @strawberry.field(description="Grid cells 网格, by community and/or intersecting a box. All "
                                  "that match (at most the county's 429 in the demo); not paged.")
    async def grid_cells(self, info: Info, community_code: str | None = None,
                         bbox: BBoxInput | None = None) -> list[GridCell]:
        return [GridCell.of(r) for r in await _listed(info, "grid_cells", bbox,
                                                      community_code=community_code)]

    @strawberry.field(description="Stations 驿站, clinic points, canteens and service rooms. All "
                                  "that match (at most the county's 211 in the demo); not paged.")
    async def facilities(self, info: Info, kind: FacilityKind | None = None,
                         community_code: str | None = None,
                         bbox: BBoxInput | None = None) -> list[Facility]:
        rows = await places.list_places(info.context.db, "facilities",
                                        bbox=bbox_or_none(bbox),
                                        kind=kind.value if kind else None,
                                        community_code=community_code)
        return [Facility.of(r) for r in rows]

    @strawberry.field(description="The grid cell, compound, community, zone and street of a point.")
    async def locate(self, info: Info, point: PointInput) -> Location:
        where = point.wgs84()
        fields = selected(info)
        nearest = facilities_ahead(fields)
        found = await places.locate_with(info.context.db, where,
                                         wanted(fields, LOCATION_FIELDS),
                                         facilities=nearest)
        prime(found, info.context.loaders)
        return Location(point=where, found=found.row,
                        facilities={} if nearest is None else {nearest: found.related["facilities"]})

    # The hottest query of grid workers' phones: `schema.fast` completes the hits' plain fields.
    @strawberry.field(description="Tickets within radiusM metres, nearest first. "
                      + cap_text(tickets.MAX_PAGE) + " A capped answer says so in "
                      "`extensions.notices` (code FIRST_CAPPED).")
    async def nearby_tickets(self, info: Info, point: PointInput, radius_m: float,
                             status: list[TicketStatus] | None = None,
                             first: int | None = 20) -> list[TicketHit]:
        first_capped(info, first, tickets.MAX_PAGE)
        rows = await tickets.nearby_tickets(info.context.db, info.context.actor, point.wgs84(),
                                            radius_m=radius_m, statuses=enum_values(status),
                                            first=20 if first is None else first,
                                            columns=ticket_columns(names_under(
                                                selected(info).get("ticket", []))))
        # Ticket rows serve as `Ticket` values (the fields read the same attributes): building
        # a Ticket per hit cost 5 % of a request's CPU.
        return [TicketHit(distance_m=r.distance_m, ticket=r) for r in rows]

    @strawberry.field
    async def ticket(self, info: Info, code: str) -> Ticket | None:
        fields = selected(info)
        related = wanted(fields, TICKET_FIELDS)
        if not related:
            row = await tickets.visible_ticket(info.context.db, info.context.actor, code)
            return Ticket.of(row) if row else None
        columns = ticket_columns(frozenset(fields))
        found = await tickets.visible_ticket_with(info.context.db, info.context.actor, code,
                                                  related, columns=columns)
        if found is None:
            return None
        # The row carries its relations' rows, which the relation fields answer from
        # (Ticket.related). With the columns its selection reads only, it serves as the
        # Ticket (as nearbyTickets' rows do: the fields read the same attributes).
        return Ticket.of(found.row) if columns is None else found.row

    @strawberry.field(description="Tickets newest first, in pages with opaque cursors. "
                      + cap_text(tickets.MAX_PAGE) + " Page on with `after: endCursor`.")
    async def tickets(self, info: Info, filter: TicketFilter | None = None, first: int | None = 50,
                      after: str | None = None) -> TicketConnection:
        f = filter.args() if filter else TicketFilter().args()
        rows, more, total = await tickets.ticket_page(info.context.db, info.context.actor, f,
                                                      first=50 if first is None else first,
                                                      after=after)
        edges = [TicketEdge(cursor=tickets.encode_cursor(r.created_at, r.id), node=Ticket.of(r))
                 for r in rows]
        return TicketConnection(
            edges=edges, total_count=total,
            page_info=PageInfo(has_next_page=more,
                               end_cursor=edges[-1].cursor if edges else None),
        )
