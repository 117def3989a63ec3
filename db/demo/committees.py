"""Demo owners' committees 业委会 with the account's figures.

From the account: 1,400+ members vetted (here 1,412), 55 replaced after hitting the negative
list; 210 of the chairs and vice-chairs are party members, 66.25% (here 210 of 317 seats);
平安社区's 瓯龙现代城 re-elected its committee: 7 members, 6 of them party members.
Invented: which compounds have a committee (200 of 230: the others are the compliance list's
compounds without one), the committees' sizes (5–9 sitting members), names, dates and which
committees fall below the 60% party share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime

from db.committees import NEGATIVE_LIST
from db.demo import names
from db.demo.places import Places
from db.demo.timeline import Timeline
from db.vocabulary import SHANGHAI

COMMITTEES = 200
VICE_CHAIRS = 117  # with the 200 chairs: 317 leader seats
PARTY_LEADERS = 210
VETTED = 1412
REMOVED = 55
SIZES = (5, 9)  # sitting members of a committee, least and most
OULONG = "瓯龙现代城"
OULONG_RE_ELECTED = date(2024, 4, 1)
VETTING_YEAR = 2023
RECORDER = "demo-seed"


@dataclass
class MemberPlan:
    name: str
    role: str
    party_member: bool
    on_community_committees: bool = False
    removed_on: date | None = None
    removed_for: str | None = None
    vetted_on: date | None = None


@dataclass
class CommitteePlan:
    compound_code: str
    term_start: date
    members: list[MemberPlan] = field(default_factory=list)

    @property
    def term_end(self) -> date:
        return self.term_start.replace(year=self.term_start.year + 5)


def _sizes(rng: random.Random, n: int, total: int) -> list[int]:
    """`n` committee sizes within SIZES that add up to `total`."""
    low, high = SIZES
    sizes = [rng.randint(low, high) for _ in range(n)]
    while (diff := total - sum(sizes)) != 0:
        i = rng.randrange(n)
        step = 1 if diff > 0 else -1
        if low <= sizes[i] + step <= high:
            sizes[i] += step
    return sizes


def plan_committees(seed: int, places: Places, timeline: Timeline) -> list[CommitteePlan]:
    """The sitting committees (and 瓯龙现代城's previous term, listed first), deterministic for
    a seed; dates on `timeline`."""
    rng = random.Random(seed * 104729 + 15)
    oulong = next(c for c in places.compounds if c.name == OULONG)
    others = rng.sample([c for c in places.compounds if c.code != oulong.code], COMMITTEES - 1)
    shift = timeline.shift
    # 瓯龙现代城: the previous term, then the re-elected one (7 members, 6 party members).
    previous = CommitteePlan(oulong.code, shift(OULONG_RE_ELECTED.replace(year=2019)), [
        MemberPlan(names.person(rng), role, party) for role, party in (
            ("CHAIR", True), ("VICE_CHAIR", False), ("MEMBER", True), ("MEMBER", False),
            ("MEMBER", False))])
    sitting = [CommitteePlan(oulong.code, shift(OULONG_RE_ELECTED), [
        MemberPlan(names.person(rng), role, party, on_community_committees=role == "CHAIR")
        for role, party in (("CHAIR", True), ("VICE_CHAIR", True), ("MEMBER", True),
                            ("MEMBER", True), ("MEMBER", True), ("MEMBER", True),
                            ("MEMBER", False))])]
    sizes = _sizes(rng, len(others), VETTED - REMOVED - len(sitting[0].members))
    vice = set(rng.sample(range(len(others)), VICE_CHAIRS - 1))
    seats = [(i, role) for i in range(len(others))
             for role in (("CHAIR", "VICE_CHAIR") if i in vice else ("CHAIR",))]
    party_seats = set(rng.sample(seats, PARTY_LEADERS - 2))
    for i, (compound, size) in enumerate(zip(others, sizes, strict=True)):
        start = shift(date(rng.randrange(2020, 2024), rng.randrange(1, 13), 1))
        plan = CommitteePlan(compound.code, start)
        for role in ("CHAIR", "VICE_CHAIR") if i in vice else ("CHAIR",):
            party = (i, role) in party_seats
            plan.members.append(MemberPlan(names.person(rng), role, party,
                                           on_community_committees=party and rng.random() < 0.3))
        while len(plan.members) < size:
            plan.members.append(MemberPlan(names.person(rng), "MEMBER", rng.random() < 0.5))
        sitting.append(plan)
    # Every sitting member was vetted in the campaign year; 55 hit the negative list, were
    # removed and replaced by a by-election (the replacements are among the sitting members).
    vetting_start = shift(date(VETTING_YEAR, 3, 1))
    for plan in sitting:
        for m in plan.members:
            m.vetted_on = max(plan.term_start, vetting_start)
    for plan in rng.sample(sitting[1:], REMOVED):
        on = max(plan.term_start, vetting_start)
        plan.members.append(MemberPlan(names.person(rng), "MEMBER", rng.random() < 0.5,
                                       removed_on=on, removed_for=rng.choice(list(NEGATIVE_LIST)),
                                       vetted_on=on))
    return [previous, *sitting]


def at_ten(day: date) -> datetime:
    """10:00 on a day in Asia/Shanghai: when the demo's elections and vettings happen."""
    return datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI)
