"""The community scorecard 社区考核: each community's year scored on hotline-ticket handling
(on-time rate, ratings, escalations, reopenings), building heads' compliance with the duty
rule and owners' committees' compliance, with the weights in one table
(`assessment_weights`), ranked within its zone and its street.

Each component is a score out of 100 (a rate, or 100 minus a rate for what should be rare);
the total is the weighted mean over the components that have data for the community (a
community with no rated ticket is scored on the others, and says so).

Disclosure (resolvers/disclosure.py): a caller without exact counts for a community (staff
outside their scope) sees its hotline tickets only where they are at least MIN_COUNT, and a
ticket component only where the count it rests on is shown as `shown_part` shows a part of
the tickets (escalated, reopened, resolved on time, rated: it and the rest at least
MIN_COUNT); otherwise the component is withheld, and with it the total (the weights and the
other components would give it back) and the ranks (a rank among shown totals would bound
it). Ranks are taken among the totals the caller sees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from db.committees import meets_party_share
from db.database import Database
from db.queries import assessment as q
from db.queries import committees as committee_queries
from db.queries import volunteers as volunteer_queries
from db.queries.volunteers import VolunteerFilter
from resolvers import policy
from resolvers.actor import Actor
from resolvers.disclosure import disclosure, shown_count, shown_part
from resolvers.inputs import period_year
from resolvers.policy import Operation
from resolvers.volunteers import assess, year_window


@dataclass(frozen=True)
class Component:
    component: str
    name_zh: str
    weight: float
    score: float | None  # out of 100; None without data or withheld
    withheld: bool = False  # the count it rests on is withheld from the caller


@dataclass(frozen=True)
class CommunityScore:
    community_code: str
    name: str
    zone_code: str
    street_code: str
    tickets: int | None  # None: withheld
    total: float | None
    components: list[Component]
    rank_in_zone: int | None = None  # None: the total is withheld
    rank_in_street: int | None = None

    @property
    def withheld(self) -> bool:
        return self.tickets is None

    @property
    def total_withheld(self) -> bool:
        return any(c.withheld and c.weight > 0 for c in self.components)


def _rate(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def _handling(row: Any, exact: bool) -> tuple[int | None, dict[str, float | None], set[str]]:
    """A community's hotline tickets, its ticket components and those withheld, as a caller
    with (`exact`) or without exact counts for it sees them. Each component rests on a count
    of some of the tickets: shown where that count is (`shown_part`), so that the score and
    the tickets do not give back 1 or 2 escalated, reopened or late tickets, nor one
    resident's rating."""
    tickets = shown_count(row.tickets, exact)
    resolved = shown_part(tickets, row.resolved, exact)
    rated = shown_part(tickets, row.rated, exact)
    if rated is not None and resolved is not None:  # rated tickets are resolved ones
        rated = shown_part(resolved, rated, exact)
    counts = {"ON_TIME": shown_part(resolved, row.on_time, exact), "RATING": rated,
              "ESCALATIONS": shown_part(tickets, row.escalated, exact),
              "REOPENINGS": shown_part(tickets, row.reopened, exact)}
    scores = {
        "ON_TIME": _rate(row.on_time, row.resolved),
        "RATING": row.rating * 20.0 if row.rated else None,
        "ESCALATIONS": 100.0 - 100.0 * row.escalated / row.tickets if row.tickets else None,
        "REOPENINGS": 100.0 - 100.0 * row.reopened / row.tickets if row.tickets else None,
    }
    withheld = {k for k, n in counts.items() if n is None}
    return tickets, {k: None if k in withheld else v for k, v in scores.items()}, withheld


async def _volunteers(conn: Any, start: datetime, end: datetime) -> dict[str, float | None]:
    """Per community: the share of its building heads who met the duty rule in the year."""
    rows = await volunteer_queries.services_in_period(
        conn, VolunteerFilter(None, role="BUILDING_HEAD"), start=start, end=end)
    members: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        members[r.community_code].append(not assess(list(r.kinds)).reasons)
    return {code: _rate(sum(ok), len(ok)) for code, ok in members.items()}


async def _committees(conn: Any, start: datetime, end: datetime) -> dict[str, float | None]:
    """Per community: the share of its compounds with a sitting owners' committee that meets
    the party share of its leader seats (today's committees: they are not kept per year)."""
    rows, _, _ = await committee_queries.compliance_rows(conn, scopes=None, community_code=None)
    compounds: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        compounds[r.community_code].append(
            r.committee_id is not None and meets_party_share(r.party_leaders, r.leader_seats))
    return {code: _rate(sum(ok), len(ok)) for code, ok in compounds.items()}


# Components other than ticket handling: name → per-community scores for a year.
Extra = Callable[[Any, datetime, datetime], Any]
EXTRA: dict[str, Extra] = {"VOLUNTEERS": _volunteers, "OWNERS_COMMITTEES": _committees}


def _ranks(scores: list[CommunityScore], key: Callable[[CommunityScore], str]) -> dict[str, int]:
    groups: dict[str, list[CommunityScore]] = defaultdict(list)
    for s in scores:
        groups[key(s)].append(s)
    ranks: dict[str, int] = {}
    for members in groups.values():  # the totals the caller sees
        members = [s for s in members if not s.total_withheld]
        ordered = sorted(members, key=lambda s: (s.total is None, -(s.total or 0.0),
                                                 s.community_code))
        for n, s in enumerate(ordered, start=1):
            ranks[s.community_code] = n
    return ranks


async def assessment(db: Database, actor: Actor, year: int,
                     now: datetime | None = None) -> list[CommunityScore]:
    """Every community's scorecard for `year` (so far, for the year in progress); counts and
    what rests on them withheld where the caller has no exact counts (module docstring)."""
    policy.check_role(actor, Operation.READ_ASSESSMENT, "the community scorecard is for "
                      "community, zone and street staff, the county office and planners")
    rule = disclosure(actor)
    period_year(year, "year")
    start, end, _ = year_window(year, now or datetime.now(UTC))
    async with db.connection() as conn:
        weights = await q.weights(conn)
        handling = await q.handling(conn, start, end)
        extra: Mapping[str, dict[str, float | None]] = {
            name: await compute(conn, start, end) for name, compute in EXTRA.items()}
    scores = []
    for row in handling:
        tickets, shown, withheld = _handling(row, rule.covers_area(row.community_code))
        values = {**shown, **{name: got.get(row.community_code) for name, got in extra.items()}}
        components = [Component(w.component, w.name_zh, float(w.weight),
                                values.get(w.component), w.component in withheld)
                      for w in weights]
        scored = [c for c in components if c.score is not None and c.weight > 0]
        weight = sum(c.weight for c in scored)
        total = (sum(c.weight * (c.score or 0.0) for c in scored) / weight) if weight else None
        score = CommunityScore(row.community_code, row.name, row.zone_code, row.street_code,
                               tickets, round(total, 2) if total is not None else None,
                               components)
        scores.append(replace(score, total=None) if score.total_withheld else score)
    in_zone = _ranks(scores, lambda s: s.zone_code)
    in_street = _ranks(scores, lambda s: s.street_code)
    return [replace(s, rank_in_zone=in_zone.get(s.community_code),
                    rank_in_street=in_street.get(s.community_code)) for s in scores]
