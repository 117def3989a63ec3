"""Getis-Ord Gi*: a hand-computed example and the statistic's known properties."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from geo.hotspots import HotspotClass, classify, gi_star, hotspots, p_value

# Five cells in a row, each adjacent to the next.
LINE = [[1], [0, 2], [1, 3], [2, 4], [3]]
COUNTS = [1, 2, 3, 4, 10]


def test_hand_computed_line() -> None:
    # n = 5, mean = 4, S = sqrt(130/5 - 16) = sqrt(10); an end cell has |N| = 2 and a middle
    # one |N| = 3, and both give S * sqrt((5|N| - |N|^2) / 4) = sqrt(15).
    # Local sums: 3, 6, 9, 17, 14 against mean * |N| = 8, 12, 12, 12, 8.
    expected = np.array([-5, -6, -3, 5, 6]) / math.sqrt(15)
    assert gi_star(COUNTS, LINE) == pytest.approx(expected, abs=1e-12)


def test_hand_computed_p_values_and_classes() -> None:
    spots = hotspots(COUNTS, LINE)
    # z = 6 / sqrt(15) = 1.5492: p = erfc(z / sqrt 2) = 0.12134, not significant at 90%.
    assert spots[4].p == pytest.approx(0.121335, abs=1e-5)
    assert [s.klass for s in spots] == [HotspotClass.NOT_SIGNIFICANT] * 5


def test_classes_at_the_thresholds() -> None:
    cases = {2.6: HotspotClass.HOT_99, 2.0: HotspotClass.HOT_95, 1.7: HotspotClass.HOT_90,
             1.6: HotspotClass.NOT_SIGNIFICANT, 0.0: HotspotClass.NOT_SIGNIFICANT,
             -1.7: HotspotClass.COLD_90, -2.0: HotspotClass.COLD_95, -2.6: HotspotClass.COLD_99}
    for z, klass in cases.items():
        assert classify(z, p_value(z)) is klass, z
    assert p_value(1.959964) == pytest.approx(0.05, abs=1e-6)
    assert p_value(-2.575829) == pytest.approx(0.01, abs=1e-6)


def _grid(side: int) -> list[list[int]]:
    near = []
    for i in range(side * side):
        r, c = divmod(i, side)
        near.append([rr * side + cc for rr in range(r - 1, r + 2) for cc in range(c - 1, c + 2)
                     if 0 <= rr < side and 0 <= cc < side and (rr, cc) != (r, c)])
    return near


def test_invariant_to_scale_and_shift_and_odd_in_sign() -> None:
    rng = np.random.default_rng(7)
    x = rng.poisson(4, size=49).astype(float)
    near = _grid(7)
    z = gi_star(x, near)
    assert gi_star(3 * x + 11, near) == pytest.approx(z, abs=1e-9)
    assert gi_star(-x, near) == pytest.approx(-z, abs=1e-9)


def test_relabelling_cells_permutes_the_scores() -> None:
    rng = random.Random(3)
    x = [rng.randint(0, 9) for _ in range(36)]
    near = _grid(6)
    order = list(range(36))
    rng.shuffle(order)
    where = {old: new for new, old in enumerate(order)}
    x2 = [x[old] for old in order]
    near2 = [[where[j] for j in near[old]] for old in order]
    assert gi_star(x2, near2) == pytest.approx(gi_star(x, near)[order], abs=1e-12)


def test_a_planted_cluster_is_hot_and_flat_data_is_not() -> None:
    x = np.ones(100)
    x[[44, 45, 54, 55]] = 12
    spots = hotspots(x, _grid(10))
    assert all(spots[i].klass is HotspotClass.HOT_99 for i in (44, 45, 54, 55))
    assert spots[0].klass is HotspotClass.NOT_SIGNIFICANT
    assert list(gi_star(np.full(100, 5.0), _grid(10))) == [0.0] * 100
    assert list(gi_star([4.0], [[]])) == [0.0]
