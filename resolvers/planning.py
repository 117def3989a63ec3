"""Planner analytics 规划分析: coverage of compounds by facilities within a walking radius, site
suggestions (maximal covering, proved optimal where CBC can), what-if proposals, market-fair
groups of neighbouring communities, and ticket statistics by area.

A compound is covered when the geodesic distance from its centre (its demand point) to an
open facility of the kind is at most the radius; weights are whole compounds. Callers:
planners, street officers and the county office; everyone else is FORBIDDEN.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple

from db.database import Database
from db.queries import planning as queries
from db.vocabulary import CHANNELS, LEVELS, SHANGHAI
from geo.types import LonLat
from resolvers import grouping, policy, siting
from resolvers.actor import Actor
from resolvers.disclosure import disclosure, shown_count, shown_part, shown_shares
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import period_year
from resolvers.inputs import radius as checked_radius
from resolvers.policy import Operation

MAX_RADIUS_M = 5_000.0
MAX_SITES = 100
MAX_POINTS = 200  # points proposed in one what-if
# Extra candidate sites of one suggestion: room for the 300-candidate instance of the issue's
# benchmark; each adds one indexed ST_DWithin lookup to the candidate–demand table.
MAX_EXTRA_CANDIDATES = 500
MAX_REMOVED = 200
MAX_TIME_LIMIT_S = 60.0
MAX_UNCOVERED = 1_000
FACILITY_KINDS = ("STATION", "CLINIC", "CANTEEN", "SERVICE_ROOM")
WEIGHTS = ("HOUSEHOLDS", "POPULATION", "ELDERLY", "CHILDREN")
CANDIDATE_SETS = ("COMPOUND_CENTERS", "GRID_CELL_CENTERS", "SERVICE_ROOMS")
# Life-circle radii of GB 50180-2018: 5, 10 and 15 minutes' walk.
LIFE_CIRCLE_RADII_M = (300.0, 500.0, 1000.0)


def require_planner(actor: Actor) -> None:
    policy.check_role(actor, Operation.PLAN, "planner analytics are for planners, street "
                      "officers and the county office")


def _choice(value: str, allowed: Sequence[str], field: str) -> str:
    if value not in allowed:
        raise DomainError(ErrorCode.BAD_USER_INPUT,
                          f"`{field}` must be one of {', '.join(allowed)}, got {value!r}", field)
    return value


def _radius(radius_m: float) -> float:
    return checked_radius(radius_m, maximum=MAX_RADIUS_M)


class Reach(NamedTuple):
    """A compound, its weight and its nearest open site (a facility code, or the index of a
    proposed point) in geodesic metres. A tuple: thousands are made per request."""

    code: str
    name: str
    community: tuple[str, str]
    zone: tuple[str, str]
    street: tuple[str, str]
    weight: float
    distance_m: float | None
    nearest_code: str | None
    nearest_added: int | None

    def covered(self, radius_m: float) -> bool:
        return self.distance_m is not None and self.distance_m <= radius_m


def _reaches(rows: Sequence[Any], weight: str) -> list[Reach]:
    column = weight.lower()
    return [Reach(r.code, r.name, (r.community_code, r.community_name), (r.zone_code, r.zone_name),
                  (r.street_code, r.street_name), float(getattr(r, column)),
                  None if r.distance_m is None else float(r.distance_m), r.nearest_code,
                  r.nearest_added) for r in rows]


@dataclass(frozen=True)
class AreaCoverage:
    code: str
    name: str
    total: float
    covered: float

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total else 0.0


def _by_area(reaches: Sequence[Reach], radius_m: float,
             area: Callable[[Reach], tuple[str, str]]) -> list[AreaCoverage]:
    totals: dict[tuple[str, str], list[float]] = {}
    for r in reaches:
        t = totals.setdefault(area(r), [0.0, 0.0])
        t[0] += r.weight
        t[1] += r.weight if r.covered(radius_m) else 0.0
    return [AreaCoverage(code, name, total, covered)
            for (code, name), (total, covered) in sorted(totals.items())]


@dataclass(frozen=True)
class Coverage:
    kind: str
    radius_m: float
    weight: str
    reaches: list[Reach]

    @property
    def total(self) -> float:
        return sum(r.weight for r in self.reaches)

    @property
    def covered(self) -> float:
        return sum(r.weight for r in self.reaches if r.covered(self.radius_m))

    @property
    def share(self) -> float:
        return self.covered / self.total if self.total else 0.0

    def uncovered(self, first: int) -> list[Reach]:
        """Uncovered compounds, heaviest first (ties by code)."""
        if first < 0:
            raise bad_input(f"`first` must not be negative, got {first}", "first")
        out = [r for r in self.reaches if not r.covered(self.radius_m)]
        return sorted(out, key=lambda r: (-r.weight, r.code))[:min(first, MAX_UNCOVERED)]

    def by_community(self) -> list[AreaCoverage]:
        return _by_area(self.reaches, self.radius_m, lambda r: r.community)

    def by_zone(self) -> list[AreaCoverage]:
        return _by_area(self.reaches, self.radius_m, lambda r: r.zone)

    def by_street(self) -> list[AreaCoverage]:
        return _by_area(self.reaches, self.radius_m, lambda r: r.street)


def _check(kind: str, radius_m: float, weight: str) -> float:
    _choice(kind, FACILITY_KINDS, "kind")
    _choice(weight, WEIGHTS, "weight")
    return _radius(radius_m)


async def _inside(conn: Any, points: Sequence[LonLat], field: str) -> None:
    outside = await queries.outside_county(conn, points)
    if outside:
        p = points[outside[0]]
        raise DomainError(ErrorCode.OUTSIDE_COVERAGE,
                          f"({p.lon:.6f}, {p.lat:.6f}) lies outside the urban area of Linshu "
                          "County", f"{field}.{outside[0]}")


async def coverage(db: Database, actor: Actor, *, kind: str, radius_m: float,
                   weight: str = "HOUSEHOLDS") -> Coverage:
    """Which compounds have an open facility of the kind within `radius_m` geodesic metres."""
    require_planner(actor)
    radius_m = _check(kind, radius_m, weight)
    async with db.connection() as conn:
        rows = await queries.reach(conn, kind)
    return Coverage(kind, radius_m, weight, _reaches(rows, weight))


@dataclass(frozen=True)
class WhatIf:
    before: Coverage
    after: Coverage

    def newly_covered(self) -> list[Reach]:
        was = {r.code for r in self.before.reaches if r.covered(self.before.radius_m)}
        return [r for r in self.after.reaches if r.covered(self.after.radius_m)
                and r.code not in was]

    def newly_uncovered(self) -> list[Reach]:
        now = {r.code for r in self.after.reaches if r.covered(self.after.radius_m)}
        return [r for r in self.before.reaches if r.covered(self.before.radius_m)
                and r.code not in now]


async def what_if(db: Database, actor: Actor, *, kind: str, radius_m: float,
                  weight: str = "HOUSEHOLDS", add: Sequence[LonLat] = (),
                  remove_codes: Sequence[str] = ()) -> WhatIf:
    """Coverage today and with facilities added at points and/or removed by code."""
    require_planner(actor)
    radius_m = _check(kind, radius_m, weight)
    if len(add) > MAX_POINTS:
        raise bad_input(f"at most {MAX_POINTS} points may be added at a time", "add")
    if len(remove_codes) > MAX_REMOVED:
        raise bad_input(f"at most {MAX_REMOVED} facilities may be removed at a time",
                        "removeCodes")
    async with db.connection() as conn:
        await _inside(conn, add, "add")
        known = await queries.facility_codes(conn, kind, remove_codes)
        unknown = [c for c in remove_codes if c not in known]
        if unknown:
            raise DomainError(ErrorCode.NOT_FOUND, f"no facility of kind {kind} with code "
                              f"{unknown[0]!r}", "removeCodes")
        before = await queries.reach(conn, kind)
        after = await queries.reach(conn, kind, added=add, removed=remove_codes)
    return WhatIf(Coverage(kind, radius_m, weight, _reaches(before, weight)),
                  Coverage(kind, radius_m, weight, _reaches(after, weight)))


@dataclass(frozen=True)
class Candidate:
    point: LonLat
    compound_code: str | None = None
    room_code: str | None = None


@dataclass(frozen=True)
class SuggestedSite:
    rank: int
    candidate: Candidate
    gain: float


@dataclass(frozen=True)
class SiteSuggestion:
    sites: list[SuggestedSite]
    covered_before: float
    covered_after: float
    total: float
    curve: list[float]
    optimal: bool
    bound: float
    gap: float
    solve_ms: float
    method: str

    @property
    def share_after(self) -> float:
        return self.covered_after / self.total if self.total else 0.0


@dataclass
class SiteRequest:
    kind: str
    count: int
    radius_m: float
    weight: str = "HOUSEHOLDS"
    candidates: str = "COMPOUND_CENTERS"
    extra_candidates: Sequence[LonLat] = field(default_factory=list)
    keep_existing: bool = True
    time_limit_s: float = 10.0

    def checked(self) -> SiteRequest:
        self.radius_m = _check(self.kind, self.radius_m, self.weight)
        _choice(self.candidates, CANDIDATE_SETS, "candidates")
        if not 1 <= self.count <= MAX_SITES:
            raise bad_input(f"`count` must be 1–{MAX_SITES}, got {self.count}", "count")
        if len(self.extra_candidates) > MAX_EXTRA_CANDIDATES:
            raise bad_input(f"at most {MAX_EXTRA_CANDIDATES} extra candidates", "extraCandidates")
        if not 0 < self.time_limit_s <= MAX_TIME_LIMIT_S:
            raise bad_input(f"`timeLimitS` must be in (0, {MAX_TIME_LIMIT_S:.0f}] seconds, got "
                            f"{self.time_limit_s}", "timeLimitS")
        return self


def site_instance(reaches: Sequence[Reach], pairs: Sequence[Any], n_candidates: int,
                  radius_m: float, count: int, keep_existing: bool) -> siting.Instance:
    """The MCLP instance: demand is every compound not already covered (when existing
    facilities are kept), reached by candidates per the candidate–demand table."""
    index = {r.code: i for i, r in enumerate(reaches)}
    weights = [0.0 if keep_existing and r.covered(radius_m) else r.weight for r in reaches]
    reach_lists: list[list[int]] = [[] for _ in range(n_candidates)]
    for p in pairs:
        reach_lists[p.candidate].append(index[p.compound_code])
    return siting.Instance(weights, reach_lists, count)


async def suggest_sites(db: Database, actor: Actor, request: SiteRequest) -> SiteSuggestion:
    """Where the next `count` facilities of a kind would cover the most weight."""
    require_planner(actor)
    req = request.checked()
    async with db.connection() as conn:
        await _inside(conn, req.extra_candidates, "extraCandidates")
        rows = await queries.candidates(conn, req.candidates)
        cands = [Candidate(LonLat(r.lon, r.lat), r.compound_code, r.room_code) for r in rows]
        cands += [Candidate(p) for p in req.extra_candidates]
        # Without today's facilities, their distances are not needed: the weights are.
        demand = await (queries.reach(conn, req.kind) if req.keep_existing
                        else queries.demand(conn))
        reaches = _reaches(demand, req.weight)
        pairs = await queries.candidate_demand(conn, [c.point for c in cands], req.radius_m)
    instance = site_instance(reaches, pairs, len(cands), req.radius_m, req.count,
                             req.keep_existing)
    # CBC runs in a subprocess under the time limit; the model is built off the event loop.
    solution = await asyncio.to_thread(siting.solve, instance, req.time_limit_s)
    total = sum(r.weight for r in reaches)
    before = sum(r.weight for r in reaches if r.covered(req.radius_m)) if req.keep_existing \
        else 0.0
    curve, running = [], before
    for gain in solution.gains:
        running += gain
        curve.append(running / total if total else 0.0)
    sites = [SuggestedSite(n, cands[j], gain) for n, (j, gain)
             in enumerate(zip(solution.chosen, solution.gains), start=1)]
    after, bound = before + solution.covered, before + solution.bound
    return SiteSuggestion(
        sites=sites, covered_before=before, covered_after=after, total=total, curve=curve,
        optimal=solution.optimal, bound=bound, gap=(bound - after) / bound if bound > 0 else 0.0,
        solve_ms=solution.solve_ms, method=solution.method)


@dataclass(frozen=True)
class MarketGroup:
    number: int
    communities: list[str]
    max_distance_m: float
    venue: str | None


MAX_GROUP_SIZE = 6


async def market_groups(db: Database, actor: Actor, *, min_size: int = 3,
                        max_size: int = 4) -> list[MarketGroup]:
    """Communities partitioned into groups of `min_size`–`max_size` that share borders, with
    the least sum of within-group distances between community centroids; each group's venue
    is the compound nearest its population-weighted centre."""
    require_planner(actor)
    if not 1 <= min_size <= max_size:
        raise bad_input(f"need 1 ≤ minSize ≤ maxSize, got {min_size} and {max_size}", "minSize")
    if max_size > MAX_GROUP_SIZE:
        raise bad_input(f"`maxSize` must be at most {MAX_GROUP_SIZE}, got {max_size}", "maxSize")
    async with db.connection() as conn:
        rows = await queries.communities_with_neighbours(conn)
        centres = [LonLat(r.lon, r.lat) for r in rows]
        metres = {(p.i, p.j): float(p.metres) for p in await queries.pairwise_metres(conn, centres)}
        index = {r.code: n for n, r in enumerate(rows)}
        neighbours = [{index[c] for c in r.neighbours} for r in rows]
        try:
            groups = await asyncio.to_thread(grouping.partition, neighbours, metres, min_size,
                                             max_size)
        except grouping.NoPartition as exc:
            raise bad_input(f"the communities cannot be split into neighbouring groups of "
                            f"{min_size}–{max_size}: {exc}", "minSize") from None
        out = []
        for number, group in enumerate(sorted(groups), start=1):
            people = sum(rows[n].population for n in group) or 1
            centre = LonLat(sum(centres[n].lon * rows[n].population for n in group) / people,
                            sum(centres[n].lat * rows[n].population for n in group) / people)
            codes = [rows[n].code for n in group]
            venue = await queries.venue(conn, codes, centre)
            farthest = max((metres[(a, b)] for a in group for b in group if a < b), default=0.0)
            out.append(MarketGroup(number, codes, farthest, venue.code if venue else None))
    return out


# Ticket statistics by area ----------------------------------------------------------------

MAX_PERIOD_DAYS = 3 * 366
TOP_ITEMS = 5
def shift_months(day: date, months: int) -> date:
    """The same day `months` earlier or later, clamped to the month's last day."""
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    first = date(y, m + 1, 1)
    last = (date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1) - timedelta(days=1)).day
    return first.replace(day=min(day.day, last))


def period(first: date, last: date) -> queries.Period:
    """Whole days first..last in Asia/Shanghai time."""
    return queries.Period(datetime.combine(first, time(), SHANGHAI),
                          datetime.combine(last + timedelta(days=1), time(), SHANGHAI))


@dataclass(frozen=True)
class Share:
    key: str
    name: str
    tickets: int | None
    share: float | None


@dataclass(frozen=True)
class AreaStats:
    code: str
    name: str
    exact: bool
    tickets: int | None
    resolved: int | None
    on_time_rate: float | None
    mean_handling_hours: float | None
    rated: int | None
    mean_rating: float | None
    month_on_month: float | None
    year_on_year: float | None
    channels: list[Share]
    top_items: list[Share]
    months: list[Share]


def _change(now: int, before: int) -> float | None:
    return (now - before) / before if before else None


def _shares(rows: list[Any], code: str, total: int, exact: bool, names: dict[str, str], *,
            every: Sequence[str] = (), ordered_by_count: bool,
            first: int | None = None) -> list[Share]:
    """One area's tickets by channel, item or month.

    Exact counts list the keys with tickets and `every` key besides with 0. Otherwise a count
    under MIN_COUNT is withheld as null whether it is 0, 1 or 2 (resolvers/disclosure.py), so
    every key of `every` is listed and no other key under MIN_COUNT: an absent key must not
    tell 0 from a withheld 1 or 2, nor the order of withheld keys their counts.
    """
    counts = {r.key: r.tickets for r in rows if r.code == code}
    shown = shown_shares({**dict.fromkeys(every, 0), **counts}, total, exact)
    if not exact:  # every key listed, and no other one withheld
        shown = {k: n for k, n in shown.items() if k in every or n is not None}
    keys = sorted(shown, key=(lambda k: (shown[k] is None, -(shown[k] or 0), k))
                  if ordered_by_count else None)
    out = []
    for k in keys[:first]:
        n = shown[k]
        out.append(Share(k, names.get(k, k), n, n / total if n is not None and total else None))
    return out


def _month_keys(first: date, last: date) -> list[str]:
    """The months first..last touches, as `YYYY-MM`."""
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [f"{d.year:04d}-{d.month:02d}"
            for d in (shift_months(first.replace(day=1), i) for i in range(count))]


async def area_stats(db: Database, actor: Actor, *, level: str, first: date, last: date,
                     code: str | None = None, by_zone: bool = False) -> list[AreaStats]:
    """Tickets created in first..last (Asia/Shanghai days) per community, zone, street or the
    county: volume, on-time resolution rate, mean hours to resolution, mean rating, change on
    the period a month and a year before, channel shares, top items and volume by month.
    Rows outside the caller's exact counts show no count at all (`Disclosure.shows_month_of`)."""
    require_planner(actor)
    _choice(level, LEVELS, "level")
    if by_zone and level != "STREET":
        raise bad_input("zones 片区 lie within a street: ask for them with level STREET",
                        "byZone")
    period_year(first.year, "from")
    period_year(last.year, "to")
    if first > last:
        raise bad_input("`from` must not be after `to`", "from")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise bad_input(f"at most {MAX_PERIOD_DAYS} days at a time", "to")
    rule = disclosure(actor)
    unit = "ZONE" if by_zone else level
    now = period(first, last)
    rule.check_period(now.start, now.end)
    month_before = period(shift_months(first, -1), shift_months(last, -1))
    year_before = period(shift_months(first, -12), shift_months(last, -12))
    async with db.connection() as conn:
        areas = await queries.area_names(conn, unit, code)
        if code is not None and not areas:
            raise DomainError(ErrorCode.NOT_FOUND, f"no {unit.lower()} {code!r}", "code")
        totals = {r.code: r for r in await queries.area_totals(conn, unit, now, code)}
        mom = await queries.area_volumes(conn, unit, month_before, code)
        yoy = await queries.area_volumes(conn, unit, year_before, code)
        channels = await queries.area_breakdown(conn, unit, now, code, "channel")
        items = await queries.area_breakdown(conn, unit, now, code, "item")
        months = await queries.area_breakdown(conn, unit, now, code, "month")
        item_names = await queries.item_names(conn)
    month_keys = _month_keys(first, last)
    out = []
    for area_code, (name, scope_code) in areas.items():
        exact = rule.covers_area(scope_code)
        # Outside them nothing of the area's month is shown: every count of the row withheld,
        # as for an area without tickets.
        shown_month = rule.shows_month_of(scope_code)
        t = totals.get(area_code) if shown_month else None
        by_channel, by_item, by_month = (channels, items, months) if shown_month else ([], [], [])
        tickets = t.tickets if t else 0
        shown = shown_count(tickets, exact)
        ok = shown is not None
        # A part of the tickets is shown only where the rest is too (`tickets` − `resolved`
        # must not read "1 unresolved"), and a rate or mean only over a count that is: a mean
        # over one rated ticket is that resident's rating, an on-time rate over 4 resolved
        # gives the one late ticket away, a change on a withheld count gives the count away.
        resolved = shown_part(shown, t.resolved if t else 0, exact)
        rated = shown_part(shown, t.rated if t else 0, exact)
        if rated is not None and resolved is not None:  # rated tickets are resolved ones
            rated = shown_part(resolved, rated, exact)
        on_time = shown_part(resolved, t.on_time, exact) if t else None
        last_month, last_year = mom.get(area_code, 0), yoy.get(area_code, 0)
        out.append(AreaStats(
            code=area_code, name=name, exact=exact, tickets=shown,
            resolved=resolved,
            on_time_rate=t.on_time / t.resolved if t and resolved and on_time is not None
            else None,
            mean_handling_hours=float(t.handling_hours) if t and resolved else None,
            rated=rated,
            mean_rating=t.rating if t and rated else None,
            month_on_month=(_change(tickets, last_month)
                            if ok and shown_count(last_month, exact) is not None else None),
            year_on_year=(_change(tickets, last_year)
                          if ok and shown_count(last_year, exact) is not None else None),
            channels=_shares(by_channel, area_code, tickets, exact, {},
                             every=() if exact else CHANNELS, ordered_by_count=True),
            top_items=_shares(by_item, area_code, tickets, exact, item_names,
                              ordered_by_count=True, first=TOP_ITEMS),
            months=_shares(by_month, area_code, tickets, exact, {}, every=month_keys,
                           ordered_by_count=False),
        ))
    return out
