"""Generates the demo's tickets 工单: 18 months of history up to the as-of day, an open
backlog spread over the communities, and bulk benchmark tickets."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from db import labels
from db.catalogue import DEADLINES
from db.demo import names
from db.demo.places import Places
from db.demo.services import HUAFENG_REPLACED, ContractPlan, sample_points
from db.demo.timeline import Timeline
from db.queries.ticket_writes import TicketPlacement
from db.responsibility import route_unit, route_units
from db.vocabulary import SHANGHAI, TICKET_STATUSES
from geo import hexagons
from geo.frame import LocalFrame

# The open backlog on the as-of day: per community, tickets of items with a deadline of 7 or
# 15 days filed in its last days, so every role's day has work and few are overdue.
BACKLOG_PER_COMMUNITY = 3
BACKLOG_DAYS = 4
CHANNEL_WEIGHTS = {
    "HOTLINE_12345": 35, "RECEPTION_DAY": 8, "PLAZA_REPORT": 5, "DOOR_KNOCKING": 10,
    "QR_CODE": 15, "SUPERVISOR": 7, "GRID_PATROL": 15, "ONLINE": 5,
}
CATEGORY_WEIGHT_IN_COMPOUND = {"C1": 3.0, "C2": 3.0, "C3": 1.5, "C4": 1.0, "C5": 0.6}
# 华丰现代城: 26 tickets a month before its property manager was replaced, 8 after.
HUAFENG_BEFORE = (24, 27, 25, 28, 26, 27, 25, 26)
HUAFENG_AFTER = (8, 7, 9, 8, 8, 9, 7, 8, 8, 8)


@dataclass(frozen=True)
class Item:
    code: str
    category: str
    lead_kind: str
    deadline_class: str
    name_zh: str
    cooperating_kinds: tuple[str, ...] = ()


@dataclass
class TicketRow(TicketPlacement):
    id: int
    item: Item
    channel: str
    description: str
    reporter_name: str
    reporter_phone: str
    lon: float
    lat: float
    h3_9: int
    h3_8: int
    created_at: datetime
    cooperating_units: tuple[str, ...] = ()  # routed as the lead unit is, never the lead
    status: str = "SUBMITTED"
    level: str = "COMMUNITY"
    due_at: datetime | None = None
    events: list[tuple[datetime, str, str | None, str | None, str, str | None]] = field(
        default_factory=list
    )

    @property
    def code(self) -> str:
        return f"T{self.created_at.astimezone(SHANGHAI):%Y%m%d}-{self.id:07d}"


class Locator:
    """Finds the cell, compound, community, zone and street of metric-frame points."""

    def __init__(self, places: Places) -> None:
        self.cells = places.cells
        self.cell_tree = shapely.STRtree([c.polygon for c in places.cells])
        self.compounds = places.compounds
        self.compound_tree = shapely.STRtree([c.polygon for c in places.compounds])
        self.zone_of = {c.code: c.zone_code for c in places.communities}

    def locate(self, xy: np.ndarray) -> list[tuple[str, str | None, str, str, str]]:
        pts = shapely.points(xy)
        cell_idx = self._first_hit(self.cell_tree, pts)
        comp_idx = self._first_hit(self.compound_tree, pts)
        if (cell_idx < 0).any():
            raise ValueError("a generated ticket point lies outside every grid cell")
        out = []
        for ci, pi in zip(cell_idx, comp_idx):
            cell = self.cells[ci]
            comm = cell.community_code
            out.append((cell.code, self.compounds[pi].code if pi >= 0 else None, comm,
                        self.zone_of[comm], comm[:9]))
        return out

    @staticmethod
    def _first_hit(tree: shapely.STRtree, pts: np.ndarray) -> np.ndarray:
        # Lowest index wins on shared edges, and the lists are sorted by code.
        pairs = tree.query(pts, predicate="intersects")
        first = np.full(len(pts), -1, dtype=np.int64)
        order = np.lexsort((pairs[1], pairs[0]))
        p, g = pairs[0][order], pairs[1][order]
        keep = np.ones(len(p), dtype=bool)
        keep[1:] = p[1:] != p[:-1]
        first[p[keep]] = g[keep]
        return first


class TicketFactory:
    """Builds ticket rows with routing and a plausible lifecycle."""

    def __init__(self, places: Places, frame: LocalFrame, items: list[Item],
                 contracts: list[ContractPlan], county_units: dict[str, str], seed: int) -> None:
        self.places = places
        self.frame = frame
        self.items = items
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.locator = Locator(places)
        self.county_units = county_units
        self.contracts: dict[str, list[ContractPlan]] = {}
        for c in contracts:
            self.contracts.setdefault(c.compound_code, []).append(c)
        self.channels = list(CHANNEL_WEIGHTS)
        self.channel_w = list(CHANNEL_WEIGHTS.values())
        self.compound_items = items
        self.compound_item_w = [CATEGORY_WEIGHT_IN_COMPOUND[i.category] for i in items]
        self.street_items = [i for i in items if i.category in ("C3", "C4")]

    def company_at(self, compound_code: str | None, day: date) -> str | None:
        for c in self.contracts.get(compound_code or "", []):
            if c.start_date <= day and (c.end_date is None or day < c.end_date):
                return c.company_code
        return None

    def make(self, next_id: int, xy: np.ndarray, created: list[datetime],
             in_compound: bool, item: Item | None = None) -> list[TicketRow]:
        rows = []
        lonlat = self.frame.to_lonlat(xy)
        h3_9, h3_8 = hexagons.cells_of(lonlat[:, 0].tolist(), lonlat[:, 1].tolist())
        for k, (cell, comp, comm, zone, street) in enumerate(self.locator.locate(xy)):
            it = item or (self.rng.choices(self.compound_items, self.compound_item_w)[0]
                          if in_compound and comp else self.rng.choice(self.street_items))
            where: dict[str, Any] = {"community_code": comm, "street_code": street,
                     "company_code": self.company_at(comp, created[k].date()),
                     "county_units": self.county_units}
            unit = route_unit(it.lead_kind, **where)
            cooperating = route_units(list(it.cooperating_kinds), **where)
            rows.append(TicketRow(
                id=next_id + k, item=it,
                channel=self.rng.choices(self.channels, self.channel_w)[0],
                description=f"{it.name_zh}（演示数据）", reporter_name=names.person(self.rng),
                reporter_phone=names.phone(self.rng), lon=float(lonlat[k, 0]),
                lat=float(lonlat[k, 1]), h3_9=h3_9[k], h3_8=h3_8[k], cell_code=cell,
                compound_code=comp,
                community_code=comm, zone_code=zone, street_code=street, unit_code=unit,
                created_at=created[k],
                cooperating_units=tuple(u for u in cooperating if u != unit),
            ))
        return rows

    def live(self, row: TicketRow, now: datetime) -> None:
        """Plays a plausible lifecycle up to `now`, writing the events."""
        rng = self.rng
        deadline = DEADLINES[row.item.deadline_class]
        t = row.created_at
        row.due_at = t + deadline
        row.events = [(t, "CREATED", None, "SUBMITTED", "resident", None)]
        status = "SUBMITTED"

        def step(dt: timedelta, action: str, to: str | None, actor: str,
                 note: str | None = None) -> bool:
            nonlocal t, status
            if t + dt > now:
                return False
            t = t + dt
            row.events.append((t, action, status if to else None, to, actor, note))
            if to:
                status = to
            return True

        if rng.random() < 0.03:
            step(timedelta(hours=rng.uniform(1, 20)), "REJECTED", "REJECTED", "community",
                 labels.rejected("DUPLICATE"))
        elif step(timedelta(minutes=rng.uniform(5, 90)), "DISPATCHED", "DISPATCHED", "routing") \
                and step(timedelta(hours=rng.uniform(0.2, 12)), "STARTED", "IN_PROGRESS",
                         row.unit_code or "community"):
            work = deadline * rng.uniform(0.2, 0.9)
            if rng.random() < 0.09:
                work = deadline * rng.uniform(1.1, 2.5)
                for level in ("STREET", "COUNTY"):
                    if row.created_at + deadline * 1.0 > now:
                        break
                    row.events.append((min(row.created_at + deadline, now), "ESCALATED",
                                       None, None, "escalation",
                                       labels.escalated(row.level, level, labels.OVERDUE)))
                    row.level = level
                    row.due_at = row.created_at + deadline * 2
                    if rng.random() < 0.8:
                        break
            if step(work, "RESOLVED", "RESOLVED", row.unit_code or "community",
                    labels.RESOLVED_DEMO):
                step(timedelta(days=rng.uniform(0.5, 7)), "CLOSED", "CLOSED", "resident",
                     labels.rated(rng.choice((5, 5, 5, 4, 4, 3, 2))))
        row.events.sort(key=lambda e: e[0])
        row.status = status

    def open(self, row: TicketRow, now: datetime) -> None:
        """A ticket still being worked on at `now`: submitted, dispatched or started."""
        rng = self.rng
        t = row.created_at
        row.due_at = t + DEADLINES[row.item.deadline_class]
        row.events = [(t, "CREATED", None, "SUBMITTED", "resident", None)]
        row.status = "SUBMITTED"
        dispatched = t + timedelta(minutes=rng.uniform(5, 90))
        if dispatched < now and rng.random() < 0.9:
            row.events.append((dispatched, "DISPATCHED", "SUBMITTED", "DISPATCHED", "routing",
                               None))
            row.status = "DISPATCHED"
            started = dispatched + timedelta(hours=rng.uniform(0.2, 12))
            if started < now and rng.random() < 0.6:
                row.events.append((started, "STARTED", "DISPATCHED", "IN_PROGRESS",
                                   row.unit_code or "community", None))
                row.status = "IN_PROGRESS"


def _times(rng: random.Random, timeline: Timeline, month: int, n: int) -> list[datetime]:
    start, end = timeline.month_start(month), timeline.month_end(month)
    span = max((end - start).days, 1)
    return sorted(
        start + timedelta(days=rng.randrange(span), hours=rng.uniform(7, 21)) for _ in range(n)
    )


def demo_tickets(factory: TicketFactory, timeline: Timeline | None = None) -> list[TicketRow]:
    """At least 8,000 tickets over the 18 months up to the as-of day, with hot spots, the
    华丰现代城 drop and an open backlog in every community."""
    timeline = timeline or Timeline()
    rng, np_rng, places = factory.rng, factory.np_rng, factory.places
    now = timeline.now
    replaced = timeline.shift(HUAFENG_REPLACED)
    hot = {c.code for c in rng.sample(places.compounds, 8)}
    huafeng = next(c for c in places.compounds if c.name == "华丰现代城")
    rows: list[TicketRow] = []
    for m in range(timeline.months):
        # The last month runs to the as-of day: its share of the month's tickets.
        share = ((timeline.month_end(m) - timeline.month_start(m))
                 / (timeline.month_start(m + 1) - timeline.month_start(m)))
        for cp in places.compounds:
            if cp.code == huafeng.code:
                before = timeline.month_start(m).date() < replaced
                n = (HUAFENG_BEFORE[m] if before else HUAFENG_AFTER[m - len(HUAFENG_BEFORE)])
                n = round(n * share)
            else:
                lam = cp.households / 340 * (3.0 if cp.code in hot else 1.0)
                n = int(np_rng.poisson(lam * share))
            if n:
                xy = sample_points(np_rng, cp.polygon.buffer(-1), n)
                rows += factory.make(len(rows) + 1, xy, _times(rng, timeline, m, n), True)
        for comm in places.communities:
            n = int(np_rng.poisson(2.0 * share))
            if n:
                xy = sample_points(np_rng, _outside_compounds(places, comm.code).buffer(-1), n)
                rows += factory.make(len(rows) + 1, xy, _times(rng, timeline, m, n), False)
    # 红石湖社区: a damp underground garage reported on a reception day, fixed.
    garage = next(i for i in factory.items if i.code == "P15")
    hongshihu = next(c for c in places.communities if c.name == "红石湖社区")
    cp = next(c for c in places.compounds if c.community_code == hongshihu.code)
    extra = factory.make(len(rows) + 1, np.array([cp.polygon.centroid.coords[0]]),
                         [timeline.month_start(4) + timedelta(days=9, hours=9)], True, garage)
    extra[0].channel = "RECEPTION_DAY"
    extra[0].description = "地下车库潮湿积水，书记接待日反映"
    rows += extra
    rows.sort(key=lambda r: (r.created_at, r.id))
    for new_id, r in enumerate(rows, start=1):
        r.id = new_id
        factory.live(r, now)
    backlog = _backlog(factory, now, len(rows) + 1)
    for r in backlog:  # filed in the last days and still being worked on
        factory.open(r, now)
    rows += backlog
    rows.sort(key=lambda r: (r.created_at, r.id))
    for new_id, r in enumerate(rows, start=1):
        r.id = new_id
    return rows


def _outside_compounds(places: Places, community_code: str) -> Polygon:
    outside = next(c for c in places.communities if c.code == community_code).polygon.difference(
        shapely.union_all([c.polygon for c in places.compounds
                           if c.community_code == community_code]))
    return _largest(outside)


def _backlog(factory: TicketFactory, now: datetime, next_id: int) -> list[TicketRow]:
    """Open tickets filed in each community's grid cells in the days before `now`, of items
    due in 7 or 15 days (so due after `now`), outside 华丰现代城 (whose monthly figure the
    account fixes)."""
    rng, np_rng, places = factory.rng, factory.np_rng, factory.places
    slow = [i for i in factory.items if i.deadline_class in ("GENERAL_7D", "COMPLEX_15D")]
    huafeng = next(c for c in places.compounds if c.name == "华丰现代城").polygon
    rows: list[TicketRow] = []
    for comm in places.communities:
        n = BACKLOG_PER_COMMUNITY + int(np_rng.poisson(1.0))
        area = comm.polygon.difference(huafeng).buffer(-1)
        xy = sample_points(np_rng, area, n)
        created = sorted(now - timedelta(days=rng.uniform(0.05, BACKLOG_DAYS)) for _ in range(n))
        for k in range(n):
            rows += factory.make(next_id + len(rows), xy[k:k + 1], [created[k]], True,
                                 rng.choice(slow))
    return rows


def _largest(geom: object) -> Polygon:
    parts = getattr(geom, "geoms", [geom])
    return max(parts, key=lambda g: g.area)


def bulk_tickets(factory: TicketFactory, count: int, first_id: int,
                 chunk: int = 50_000) -> Iterator[list[TicketRow]]:
    """Streams `count` extra tickets for benchmarks, 15% of them open, in chunks."""
    rng, np_rng, places = factory.rng, factory.np_rng, factory.places
    weights = np.array([c.households for c in places.compounds], dtype=float)
    weights /= weights.sum()
    start, end = Timeline().month_start(0), Timeline().now
    span = (end - start).total_seconds()
    done = 0
    while done < count:
        n = min(chunk, count - done)
        picks = np_rng.choice(len(places.compounds), size=n, p=weights)
        xy = np.empty((n, 2))
        for ci in np.unique(picks):
            idx = np.nonzero(picks == ci)[0]
            xy[idx] = sample_points(np_rng, places.compounds[ci].polygon.buffer(-1), len(idx))
        offs = np.sort(np_rng.uniform(0, span, size=n))
        created = [start + timedelta(seconds=float(s)) for s in offs]
        rows = factory.make(first_id + done, xy, created, True)
        for r in rows:
            r.due_at = r.created_at + DEADLINES[r.item.deadline_class]
            r.status = rng.choices(
                TICKET_STATUSES, (4, 5, 6, 10, 72, 3))[0]  # in the vocabulary's order
            r.events = [(r.created_at, "IMPORTED", None, r.status, "bulk-load",
                         "benchmark data")]
        yield rows
        done += n
