"""The duty rule of in-service party members: its tiers at their boundaries."""

from __future__ import annotations

import pytest

from db.duty import assess

P, M = "ACTIVITY", "MISSED_CALLUP"


@pytest.mark.parametrize(("kinds", "run", "reasons", "tier"), [
    ([P] * 5, 0, (), "NONE"),
    ([P] * 5 + [M, P, M, P], 1, (), "NONE"),
    # 2 missed call-ups in a row: a talk; 3: a public criticism notice.
    ([P] * 5 + [M, M], 2, ("CONSECUTIVE_MISSES",), "TALK"),
    ([M, M, P, M, P, P, "TICKET", P], 2, ("CONSECUTIVE_MISSES",), "TALK"),
    ([P] * 5 + [M, M, M], 3, ("CONSECUTIVE_MISSES",), "PUBLIC_CRITICISM"),
    ([M, M, P, P, M, M, M, P, P, P], 3, ("CONSECUTIVE_MISSES",), "PUBLIC_CRITICISM"),
    ([P] * 5 + [M] * 4, 4, ("CONSECUTIVE_MISSES",), "PUBLIC_CRITICISM"),
    # 4 participations: a talk, whatever the misses.
    ([P] * 4, 0, ("TOO_FEW_PARTICIPATIONS",), "TALK"),
    ([P] * 4 + [M, M, M], 3, ("TOO_FEW_PARTICIPATIONS", "CONSECUTIVE_MISSES"),
     "PUBLIC_CRITICISM"),
    ([], 0, ("TOO_FEW_PARTICIPATIONS",), "TALK"),
])
def test_tiers_at_their_boundaries(kinds: list[str], run: int, reasons: tuple[str, ...],
                                   tier: str) -> None:
    a = assess(kinds)
    assert (a.longest_miss_run, a.reasons, a.tier) == (run, reasons, tier)
    assert a.participations == sum(k != M for k in kinds) and a.misses == kinds.count(M)
