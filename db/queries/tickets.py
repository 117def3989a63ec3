"""Queries over tickets 工单: nearest-N, pages, lookups and events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import OPEN_STATUSES, TICKET_STATUSES, Ticket, TicketEvent
from geo.projection import METRIC_SCALE_TOLERANCE

TICKET_COLUMNS = (
    "id, code, status, level, item_code, channel, description, priority, cell_code, "
    "compound_code, community_code, zone_code, street_code, unit_code, created_at, due_at, "
    "updated_at, version, ST_X(geom) AS lon, ST_Y(geom) AS lat"
)


def _status_clause(statuses: Sequence[str] | None) -> str:
    # Inlined from a closed set, so the planner can match the partial index on open statuses.
    if statuses is None:
        return "TRUE"
    bad = set(statuses) - set(TICKET_STATUSES)
    if bad:
        raise ValueError(f"unknown statuses {sorted(bad)}")
    return "status IN (" + ", ".join(f"'{s}'" for s in sorted(set(statuses))) + ")"


def nearest_sql(statuses: Sequence[str] | None) -> str:
    """KNN on the indexed EPSG:4549 column, with exact geodesic metres for the rows returned."""
    return f"""
SELECT {TICKET_COLUMNS}, dp,
       ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography)
           AS distance_m
FROM (
    SELECT *, geom_metric <-> ST_SetSRID(ST_MakePoint(:x, :y), 4549) AS dp
    FROM tickets
    WHERE {_status_clause(statuses)}
      AND ST_DWithin(geom_metric, ST_SetSRID(ST_MakePoint(:x, :y), 4549), :reach)
    ORDER BY geom_metric <-> ST_SetSRID(ST_MakePoint(:x, :y), 4549)
    LIMIT :k
) t"""


@dataclass(frozen=True)
class NearestQuery:
    lon: float
    lat: float
    x: float
    y: float
    radius_m: float
    statuses: Sequence[str] | None
    limit: int


async def nearest_tickets(conn: AsyncConnection, q: NearestQuery) -> list[Row[Any]]:
    """Tickets within `radius_m` geodesic metres, nearest first (ties by code), at most `limit`.

    Ranks in the projection with some spare rows, then sorts on geodesic metres; when the spare
    rows cannot prove the cut exact (projection scale error), it asks again for more.
    """
    sql = text(nearest_sql(q.statuses))
    reach = q.radius_m * 1.001 + 1
    k = q.limit + max(8, q.limit // 2)
    while True:
        rows = (await conn.execute(sql, {"lon": q.lon, "lat": q.lat, "x": q.x, "y": q.y,
                                         "reach": reach, "k": k})).all()
        hits = sorted((r for r in rows if r.distance_m <= q.radius_m),
                      key=lambda r: (r.distance_m, r.code))[: q.limit]
        if len(rows) < k:
            return hits  # every candidate within reach was seen
        # Rows not fetched lie at projected distance >= the last one's.
        floor = rows[-1].dp * (1 - METRIC_SCALE_TOLERANCE)
        if len(hits) == q.limit and hits[-1].distance_m < floor:
            return hits
        if floor > q.radius_m:
            return hits
        k *= 4


@dataclass(frozen=True)
class TicketFilterArgs:
    statuses: Sequence[str] | None = None
    community_code: str | None = None
    cell_code: str | None = None
    item_code: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _filter_conditions(f: TicketFilterArgs) -> list[Any]:
    cond: list[Any] = []
    if f.statuses is not None:
        cond.append(Ticket.status.in_(list(f.statuses)))
    if f.community_code is not None:
        cond.append(Ticket.community_code == f.community_code)
    if f.cell_code is not None:
        cond.append(Ticket.cell_code == f.cell_code)
    if f.item_code is not None:
        cond.append(Ticket.item_code == f.item_code)
    if f.overdue is not None:
        late = and_(Ticket.status.in_(OPEN_STATUSES), Ticket.due_at < func.now())
        cond.append(late if f.overdue else ~late)
    if f.created_from is not None:
        cond.append(Ticket.created_at >= f.created_from)
    if f.created_to is not None:
        cond.append(Ticket.created_at < f.created_to)
    return cond


def _ticket_select() -> Any:
    cols = [c for c in Ticket.__table__.columns
            if c.name not in ("geom", "geom_metric", "reporter_name", "reporter_phone",
                              "idempotency_caller", "idempotency_key", "request_hash")]
    return select(*cols, func.ST_X(Ticket.geom).label("lon"), func.ST_Y(Ticket.geom).label("lat"))


async def ticket_page(conn: AsyncConnection, f: TicketFilterArgs, *, limit: int,
                      after: tuple[datetime, int] | None) -> tuple[list[Row[Any]], int]:
    """A page of tickets, newest first, after a (created_at, id) keyset; and the total count."""
    cond = _filter_conditions(f)
    stmt = _ticket_select().where(*cond)
    if after is not None:
        stmt = stmt.where(or_(Ticket.created_at < after[0],
                              and_(Ticket.created_at == after[0], Ticket.id < after[1])))
    stmt = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit + 1)
    rows = list((await conn.execute(stmt)).all())
    total = (await conn.execute(select(func.count()).select_from(Ticket).where(*cond))).scalar_one()
    return rows, int(total)


async def tickets_by_code(conn: AsyncConnection, codes: Sequence[str]) -> Sequence[Row[Any]]:
    return (await conn.execute(_ticket_select().where(Ticket.code.in_(codes)))).all()


async def events_by_ticket(conn: AsyncConnection,
                           ticket_ids: Sequence[int]) -> Sequence[Row[Any]]:
    stmt = select(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids)).order_by(
        TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id)
    return (await conn.execute(stmt)).all()

