"""Getis-Ord Gi* hot-spot statistic over cells with binary neighbour weights.

For cell i with neighbourhood N(i) (its neighbours and itself, weight 1 each; Getis & Ord
1995, as ArcGIS's Hot Spot Analysis computes it):

    Gi* = (sum_{j in N(i)} x_j - mean * |N(i)|)
          / (S * sqrt((n * |N(i)| - |N(i)|^2) / (n - 1)))

with n cells, mean = sum x / n and S = sqrt(sum x^2 / n - mean^2). Gi* is a z-score; the
p-value is two-sided under the normal approximation. No multiple-testing correction is
applied, as in the default ArcGIS tool.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


class HotspotClass(str, enum.Enum):  # noqa: UP042 - the values are the wire names
    HOT_99 = "HOT_99"
    HOT_95 = "HOT_95"
    HOT_90 = "HOT_90"
    NOT_SIGNIFICANT = "NOT_SIGNIFICANT"
    COLD_90 = "COLD_90"
    COLD_95 = "COLD_95"
    COLD_99 = "COLD_99"


@dataclass(frozen=True)
class Hotspot:
    z: float
    p: float
    klass: HotspotClass


def gi_star(counts: npt.ArrayLike, neighbours: Sequence[Sequence[int]]) -> np.ndarray:
    """Gi* z-scores of `counts`; `neighbours[i]` lists the indices adjacent to cell i (i
    itself is always included). Cells are all 0 when the counts do not vary."""
    x = np.asarray(counts, dtype=float)
    n = len(x)
    if n < 2:
        return np.zeros(n)
    mean = x.mean()
    s = math.sqrt(max(float((x * x).mean() - mean * mean), 0.0))
    if s == 0.0:
        return np.zeros(n)
    local = np.empty(n)
    weight = np.empty(n)
    for i, near in enumerate(neighbours):
        members = {i, *near}
        local[i] = x[list(members)].sum()
        weight[i] = len(members)
    spread = np.sqrt(np.maximum(n * weight - weight * weight, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (local - mean * weight) / (s * spread)
    # A cell whose neighbourhood is every cell has no contrast to measure.
    return np.where(spread > 0, z, 0.0)


def p_value(z: float) -> float:
    """Two-sided p-value of a standard normal z-score."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def classify(z: float, p: float) -> HotspotClass:
    if p < 0.01:
        return HotspotClass.HOT_99 if z > 0 else HotspotClass.COLD_99
    if p < 0.05:
        return HotspotClass.HOT_95 if z > 0 else HotspotClass.COLD_95
    if p < 0.10:
        return HotspotClass.HOT_90 if z > 0 else HotspotClass.COLD_90
    return HotspotClass.NOT_SIGNIFICANT


def hotspots(counts: npt.ArrayLike, neighbours: Sequence[Sequence[int]]) -> list[Hotspot]:
    """Gi* z, p and class for every cell."""
    out = []
    for z in gi_star(counts, neighbours):
        zf = float(z)
        p = p_value(zf)
        out.append(Hotspot(zf, p, classify(zf, p)))
    return out
