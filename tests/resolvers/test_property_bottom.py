"""The bottom of the property ranking: the worst ≥ 1%, with ties."""

from __future__ import annotations

import pytest

from resolvers.performance import Ranking, Standing


def standings(tickets: list[int]) -> list[Standing]:
    """Standings of 100 household-months each, best first, with these ticket counts."""
    return [Standing(f"PC{i:03d}", "公司", f"经理{i}", {f"C{i}"}, household_months=100.0,
                     tickets=n, rank=i + 1) for i, n in enumerate(sorted(tickets))]


@pytest.mark.parametrize(("tickets", "bottom"), [
    (list(range(1, 101)), [100]),  # 100 standings: the worst 1
    (list(range(1, 102)), [100, 101]),  # 101: the worst 2 (≥ 1%)
    ([*range(1, 98), 98, 98, 99], [99]),  # a tie above the cut stays out
    ([*range(1, 99), 99, 99], [99, 99]),  # the worst two tied: both
    ([*range(1, 99), 99, 99, 99], [99, 99, 99]),  # 101, the cut inside a tie: the whole tie
    ([2] * 5, [2] * 5),  # everyone tied: everyone
    ([7], [7]),
    ([], []),
])
def test_the_worst_one_percent_with_ties(tickets: list[int], bottom: list[int]) -> None:
    assert [s.tickets for s in Ranking.bottom(standings(tickets))] == bottom
