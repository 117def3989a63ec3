"""The duty rule for in-service party members 在职党员: what a year of call-ups leads to.

Each member takes part in community service at least 5 times a year. Missed call-ups in a row
escalate in tiers: 2 lead to a talk (谈话提醒), 3 to a public criticism notice (通报批评).
Too few participations alone lead to a talk. Each member's yearly record, with its tier, is
reported to their employer (two-way evaluation 双向评价) and counts in their year-end appraisal.

The rule lives here, beside the data it judges, so the demo's reported years and the API
apply the same thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MIN_PARTICIPATIONS = 5
MISSES_FOR_TALK = 2
MISSES_FOR_NOTICE = 3
PARTICIPATION = frozenset({"TICKET", "ACTIVITY"})
MISSED = "MISSED_CALLUP"
# The tiers, mildest first.
TIERS = ("NONE", "TALK", "PUBLIC_CRITICISM")


@dataclass(frozen=True)
class Assessment:
    """A member's year: participations, misses, the longest run of misses, why a talk is due
    (empty when none is) and the tier it comes to."""

    participations: int
    misses: int
    longest_miss_run: int
    reasons: tuple[str, ...]
    tier: str


def assess(kinds: Iterable[str]) -> Assessment:
    """The year of a member from their service kinds in time order."""
    participations = misses = longest = run = 0
    for kind in kinds:
        if kind == MISSED:
            misses += 1
            run += 1
            longest = max(longest, run)
        elif kind in PARTICIPATION:
            participations += 1
            run = 0
    reasons: list[str] = []
    if participations < MIN_PARTICIPATIONS:
        reasons.append("TOO_FEW_PARTICIPATIONS")
    if longest >= MISSES_FOR_TALK:
        reasons.append("CONSECUTIVE_MISSES")
    tier = "PUBLIC_CRITICISM" if longest >= MISSES_FOR_NOTICE else "TALK" if reasons else "NONE"
    return Assessment(participations, misses, longest, tuple(reasons), tier)
