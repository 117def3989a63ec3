"""The community scorecard 社区考核 in GraphQL."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from resolvers import assessment as resolver
from resolvers.disclosure import MIN_COUNT


@strawberry.type
class ScoreComponent:
    component: str = strawberry.field(description="ON_TIME, RATING, ESCALATIONS, REOPENINGS, "
                                                  "VOLUNTEERS or OWNERS_COMMITTEES.")
    name_zh: str
    weight: float = strawberry.field(description="From the one table of weights.")
    score: float | None = strawberry.field(
        description="Out of 100; null without data, or when withheld.")
    withheld: bool = strawberry.field(
        description=f"Whether the score is withheld: for callers without exact counts for the "
                    f"community, a ticket component whose count (escalated, reopened, on time "
                    f"of resolved, rated) or the rest of the tickets is under {MIN_COUNT}, so "
                    f"that the score and the tickets do not give back a count of 1 or 2.")


@strawberry.type
class CommunityScore:
    community_code: str
    name: str
    zone_code: str
    street_code: str
    tickets: int | None = strawberry.field(
        description=f"Hotline (12345) tickets created in the year; null when withheld: under "
                    f"{MIN_COUNT}, for callers without exact counts for the community (staff "
                    f"outside their scope).")
    withheld: bool = strawberry.field(description="Whether `tickets` is withheld.")
    total: float | None = strawberry.field(description="The weighted mean of the components "
                                                       "with data, out of 100; null when a "
                                                       "weighted component is withheld.")
    rank_in_zone: int | None = strawberry.field(
        description="Among the totals the caller sees; null when the total is withheld.")
    rank_in_street: int | None = strawberry.field(
        description="Among the totals the caller sees; null when the total is withheld.")
    components: list[ScoreComponent] = strawberry.field(
        description="One per row of the weights table (6 in the demo).")


@strawberry.type
class AssessmentQuery:
    @strawberry.field(description="The community scorecard 社区考核 for a year (so far, for "
                                  "the year in progress): hotline-ticket handling, building "
                                  "heads' duty and owners' committees, weighted by the one "
                                  "table of weights, ranked per zone and street. One per "
                                  "community (43 in the demo), by code. Staff, planners; "
                                  "counts, and scores resting on them, withheld where the "
                                  "caller has no exact counts for the community.")
    async def community_assessment(self, info: Info, year: int) -> list[CommunityScore]:
        rows = await resolver.assessment(info.context.db, info.context.actor, year)
        return [CommunityScore(
            community_code=s.community_code, name=s.name, zone_code=s.zone_code,
            street_code=s.street_code, tickets=s.tickets, withheld=s.withheld, total=s.total,
            rank_in_zone=s.rank_in_zone, rank_in_street=s.rank_in_street,
            components=[ScoreComponent(component=c.component, name_zh=c.name_zh,
                                       weight=c.weight, withheld=c.withheld,
                                       score=round(c.score, 2) if c.score is not None else None)
                        for c in s.components]) for s in rows]
