"""Demo patrol visits 巡查记录 for the weeks before the as-of day, with a random stream of their
own, so every other generated value stays as it was.

Invented: each grid cell's worker walks their cell most weeks (1–4 buildings a week, on
working days), a few cells are neglected (visited in about one week of five), one visit in
ten notes something settled on the spot, and every ticket filed on patrol or by a supervisor
(未诉先办) in the window comes with the visit that found it, a few minutes before.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from shapely.geometry import Point

from db.demo.places import Places
from db.demo.tickets import TicketRow
from db.demo.timeline import Timeline
from db.queries.patrols import PROACTIVE_CHANNELS, NewVisit
from db.vocabulary import SHANGHAI
from geo.frame import LocalFrame

WEEKS = 8
NEGLECTED_SHARE = 0.08
VISITED_WEEKS = (0.9, 0.2)  # chance a cell is walked in a week: kept, neglected
BUILDINGS_A_WEEK = (1, 4)
SETTLED_SHARE = 0.1
SETTLED = ("楼道堆物，已劝导清理", "消防通道被占，已现场协调挪车", "单元门禁松动，已告知物业",
           "垃圾桶满溢，已联系保洁", "路灯不亮，已报物业维修", "电动车楼道充电，已劝离")


def weeks(timeline: Timeline) -> list[date]:
    """The Mondays of the `WEEKS` weeks up to the as-of day's, oldest first."""
    monday = timeline.as_of - timedelta(days=timeline.as_of.weekday())
    return [monday - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]


def _visit(at: datetime, worker: str, cell_code: str, compound_code: str | None,
           building_code: str | None, lon: float, lat: float, findings: str | None,
           ticket_id: int | None = None) -> NewVisit:
    """A seeded visit: no idempotency key, as none came from a phone."""
    return NewVisit(at=at, worker=worker, cell_code=cell_code, compound_code=compound_code,
                    building_code=building_code, lon=lon, lat=lat, findings=findings,
                    ticket_id=ticket_id, key=None, request_hash=None)


def _working_time(rng: random.Random, day: date) -> datetime:
    minutes = rng.randint(8 * 60 + 30, 17 * 60 + 30)
    return datetime.combine(day, time(minutes // 60, minutes % 60), SHANGHAI)


def plan_patrols(rng: random.Random, places: Places, frame: LocalFrame, timeline: Timeline,
                 tickets: list[TicketRow]) -> list[NewVisit]:
    """The demo's visits in time order: the cells' weekly rounds, and the visits that found the
    window's proactive tickets."""
    buildings: dict[str, list[tuple[str | None, str | None, Point]]] = {}
    for c in places.compounds:
        for b in c.buildings:
            buildings.setdefault(b.cell_code, []).append(
                (b.code, c.code, b.polygon.representative_point()))
    mondays = weeks(timeline)
    out: list[NewVisit] = []
    for cell in places.cells:
        kept = rng.random() >= NEGLECTED_SHARE
        homes = buildings.get(cell.code) or [(None, None, cell.polygon.representative_point())]
        worker = f"grid-worker-{cell.code}"
        for monday in mondays:
            if rng.random() >= VISITED_WEEKS[0 if kept else 1]:
                continue
            days = [monday + timedelta(days=d) for d in range(5)
                    if monday + timedelta(days=d) <= timeline.as_of]
            if not days:
                continue
            count = min(rng.randint(*BUILDINGS_A_WEEK), len(homes))
            for code, compound_code, point in rng.sample(homes, count):
                where = frame.geometry_to_lonlat(point)
                findings = rng.choice(SETTLED) if rng.random() < SETTLED_SHARE else None
                out.append(_visit(_working_time(rng, rng.choice(days)), worker, cell.code,
                                  compound_code, code, where.x, where.y, findings))
    start = datetime.combine(mondays[0], time(), SHANGHAI)
    for t in tickets:
        if (t.channel not in PROACTIVE_CHANNELS
                or not start + timedelta(hours=1) <= t.created_at < timeline.now):
            continue
        by_supervisor = t.channel == "SUPERVISOR" and t.compound_code
        worker = f"supervisor-{t.compound_code}" if by_supervisor else f"grid-worker-{t.cell_code}"
        at = t.created_at - timedelta(minutes=rng.randint(5, 40))
        out.append(_visit(at, worker, t.cell_code, t.compound_code, None, t.lon, t.lat,
                          t.description, t.id))
    return sorted(out, key=lambda v: (v.at, v.worker))
