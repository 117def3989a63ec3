"""Demo community life beyond tickets: social organisations 社会组织 (43 rooted in the
communities, 52 professional ones brought in), the monthly market fairs 万市大集 of groups of
3–4 neighbouring communities, and the service rooms' 社服用房 rent income and applications.

The account's figures hold over the demo's 18 months: 16,000+ m² of service rooms recovered,
3,000+ m² of them rented out, 800,000+ yuan of rent paid to the compounds' public accounts.
Its own random stream: every other generated value stays as it was.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import shapely

from db.demo.places import Places
from db.demo.services import FacilityPlan
from db.demo.timeline import Timeline
from db.labels import SOCIAL_FIELD_NAMES
from db.vocabulary import SHANGHAI

FIELDS = SOCIAL_FIELD_NAMES
# Community organisations by the names residents give them; professional ones by their field.
_COMMUNITY_NAMES = {"ELDERLY": "夕阳红互助会", "CHILDREN": "四点半课堂", "DISABILITY": "阳光助残队",
                    "CULTURE": "广场舞协会", "MEDIATION": "和事佬调解室", "HEALTH": "健康小屋",
                    "VOLUNTEERING": "红色志愿服务队"}
_EXTERNAL_STEMS = ("仁爱", "同心", "益民", "启明", "向阳", "和美", "康宁", "善行", "惠众", "众诚",
                   "博爱", "恒信", "乐龄", "春晖", "明德", "聚力", "暖心", "安康")
EXTERNAL_COUNT = 52
RENT_YUAN_PER_M2 = (15.0, 18.0)  # a month
RECORDER = "demo-seed"


@dataclass(frozen=True)
class SocialOrganisationPlan:
    code: str
    name: str
    kind: str
    field: str
    home_community_code: str | None
    since: date
    serves: tuple[str, ...]


@dataclass(frozen=True)
class MarketFairPlan:
    held_on: date
    venue_compound_code: str
    community_codes: tuple[str, ...]
    stalls: int
    attendance: int


@dataclass(frozen=True)
class RoomApplicationPlan:
    room_code: str
    use: str
    purpose: str
    steps: tuple[tuple[str, datetime, str], ...]  # (action, at, note)

    @property
    def status(self) -> str:
        return {"APPLY": "APPLIED", "REVIEW": "REVIEWED", "APPROVE": "APPROVED",
                "REJECT": "REJECTED"}[self.steps[-1][0]]


def _neighbours(places: Places) -> dict[str, list[str]]:
    comms = places.communities
    tree = shapely.STRtree([c.polygon for c in comms])
    return {a.code: sorted(comms[int(j)].code for j in tree.query(a.polygon, predicate="touches"))
            for a in comms}


def plan_social_organisations(rng: random.Random, places: Places,
                              timeline: Timeline) -> list[SocialOrganisationPlan]:
    """One organisation rooted in each community (serving it and, for a third, a neighbour),
    and 52 brought in, each serving 2 to 8 communities of one street."""
    near = _neighbours(places)
    fields = list(FIELDS)
    start = timeline.first_month.toordinal()
    out: list[SocialOrganisationPlan] = []
    for n, comm in enumerate(places.communities, start=1):
        field = fields[n % len(fields)]
        serves = [comm.code]
        if rng.random() < 1 / 3 and near[comm.code]:
            serves.append(rng.choice(near[comm.code]))
        out.append(SocialOrganisationPlan(
            f"SO{n:03d}", f"{comm.name}{_COMMUNITY_NAMES[field]}", "COMMUNITY", field, comm.code,
            date.fromordinal(start - rng.randrange(30, 1500)), tuple(sorted(serves))))
    by_street: dict[int, list[str]] = {}
    for comm in places.communities:
        by_street.setdefault(comm.street_index, []).append(comm.code)
    for n in range(1, EXTERNAL_COUNT + 1):
        field = rng.choice(fields)
        stem = _EXTERNAL_STEMS[(n - 1) % len(_EXTERNAL_STEMS)]
        number = "" if n <= len(_EXTERNAL_STEMS) else str((n - 1) // len(_EXTERNAL_STEMS) + 1)
        street = by_street[rng.randrange(len(by_street))]
        serves = rng.sample(street, rng.randint(2, 8))
        out.append(SocialOrganisationPlan(
            f"SX{n:03d}", f"临沭县{stem}{FIELDS[field]}中心{number}", "EXTERNAL", field, None,
            date.fromordinal(start + rng.randrange(-400, 300)), tuple(sorted(serves))))
    return out


def fair_groups(places: Places) -> list[list[str]]:
    """The communities in groups of 3 or 4 neighbours (43 = ten 4s and a 3): each group starts
    at the community with the fewest neighbours left and grows by the neighbour with the fewest
    left, so that no community is stranded without a group to join."""
    near = {c: set(n) for c, n in _neighbours(places).items()}
    left = set(near)
    count = -(-len(left) // 4)
    threes = 4 * count - len(left)  # 43: ten 4s and one 3; 42: nine 4s and two 3s
    sizes = [4] * (count - threes) + [3] * threes
    groups: list[list[str]] = []

    def free(code: str) -> int:
        return len(near[code] & left)

    for size in sizes:
        if not left:
            break
        first = min(left, key=lambda c: (free(c), c))
        group = [first]
        left.discard(first)
        while len(group) < size:
            options = {n for g in group for n in near[g]} & left
            if not options:
                break
            pick = min(options, key=lambda c: (free(c), c))
            group.append(pick)
            left.discard(pick)
        groups.append(sorted(group))
    for code in sorted(left):  # anyone left joins a neighbouring group
        target = min((g for g in groups if near[code] & set(g)), key=len)
        target.append(code)
        target.sort()
    return groups


def plan_market_fairs(rng: random.Random, places: Places,
                      timeline: Timeline) -> list[MarketFairPlan]:
    """Each group's fair once a month, on a fixed day of its own, at the compound nearest the
    group's centre; none after the as-of day."""
    compounds = places.compounds
    out: list[MarketFairPlan] = []
    for group in fair_groups(places):
        members = [c for c in places.communities if c.code in group]
        middle = shapely.union_all([c.polygon for c in members]).centroid
        venue = min((k for k in compounds if k.community_code in group),
                    key=lambda k: (k.polygon.centroid.distance(middle), k.code))
        day = rng.randint(3, 26)
        households = sum(c.households for c in members)
        for i in range(timeline.months):
            month = timeline.month_start(i)
            held = date(month.year, month.month, day)
            if held > timeline.as_of:
                break
            stalls = rng.randint(40, 120)
            out.append(MarketFairPlan(held, venue.code, tuple(group), stalls,
                                      round(households * rng.uniform(0.08, 0.16))))
    return out


def plan_room_rents(rng: random.Random, rooms: list[FacilityPlan],
                    timeline: Timeline) -> list[tuple[str, date, Decimal]]:
    """Each rented room's income in every month of the window, at its own rate per m²."""
    out: list[tuple[str, date, Decimal]] = []
    for room in sorted((r for r in rooms if r.status == "RENTED"), key=lambda r: r.code):
        rate = rng.uniform(*RENT_YUAN_PER_M2)
        monthly = Decimal(round(float(room.area_m2 or 0) * rate))
        for i in range(timeline.months):
            out.append((room.code, timeline.month_start(i).date(), monthly))
    return out


def plan_room_applications(rng: random.Random, rooms: list[FacilityPlan],
                           timeline: Timeline) -> list[RoomApplicationPlan]:
    """The approved application behind every room in use or rented, a month before the window;
    and a few idle rooms' applications still on their way in its last days (one turned down)."""
    before = datetime.combine(timeline.first_month, datetime.min.time(), SHANGHAI)
    out: list[RoomApplicationPlan] = []
    for room in sorted(rooms, key=lambda r: r.code):
        if room.status not in ("RENTED", "IN_USE"):
            continue
        use = "RENT" if room.status == "RENTED" else "USE"
        applied = before - timedelta(days=rng.randint(25, 60), hours=-rng.uniform(8, 17))
        purpose = ("出租收益归小区公共账户" if use == "RENT"
                   else rng.choice(("红色驿站活动室", "老年人日间照料", "四点半课堂", "业委会办公")))
        out.append(RoomApplicationPlan(room.code, use, purpose, (
            ("APPLY", applied, "业委会提出申请"),
            ("REVIEW", applied + timedelta(days=rng.randint(2, 6)), "社区党组织审核同意"),
            ("APPROVE", applied + timedelta(days=rng.randint(8, 15)), "街道审批同意"))))
    idle = sorted((r for r in rooms if r.status == "IDLE"), key=lambda r: r.code)
    end = timeline.now
    for n, room in enumerate(idle[:5]):
        applied = end - timedelta(days=rng.randint(3, 12), hours=rng.uniform(2, 9))
        steps: list[tuple[str, datetime, str]] = [("APPLY", applied, "业委会提出申请")]
        if n >= 2:
            steps.append(("REVIEW", applied + timedelta(days=1), "社区党组织审核同意"))
        if n == 4:
            steps.append(("REJECT", applied + timedelta(days=2), "用途不符合社服用房规定"))
        out.append(RoomApplicationPlan(room.code, "USE" if n % 2 else "RENT",
                                       "便民服务点" if n % 2 else "出租收益归小区公共账户",
                                       tuple(steps)))
    return out
