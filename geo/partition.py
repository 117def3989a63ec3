"""Split a convex area into unit-grid cells holding 300-500 households each."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from geo._xy import as_xy

Vertex = tuple[float, float]
Ring = list[Vertex]

# Relative slack for the convexity and point-in-polygon checks; input rings come from
# projected survey data, so exact collinearity cannot be expected.
_REL_TOL = 1e-9


def _crossing(a: Vertex, b: Vertex, axis: int, value: float) -> Vertex:
    # Interpolate from the endpoint below the line so the result does not depend on
    # the edge's direction; the cut coordinate is set exactly so the vertex lies on it.
    if a[axis] > b[axis]:
        a, b = b, a
    other = 1 - axis
    t = (value - a[axis]) / (b[axis] - a[axis])
    coord = a[other] + t * (b[other] - a[other])
    # Rounding may overshoot the segment by an ulp; clamping keeps the vertex on it.
    coord = min(max(coord, min(a[other], b[other])), max(a[other], b[other]))
    return (value, coord) if axis == 0 else (coord, value)


def _proper(part: Ring, axis: int, value: float) -> Ring:
    # A convex part has area exactly when one of its vertices is off the cut line.
    return part if any(v[axis] != value for v in part) else []


def split_convex(poly: Ring, axis: int, value: float) -> tuple[Ring, Ring]:
    """Split a convex ring by the line coord[axis] = value into (below, at-or-above)."""
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 or 1, got {axis!r}")
    if len(poly) < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {len(poly)}")
    lower: Ring = []
    upper: Ring = []
    for i, a in enumerate(poly):
        b = poly[(i + 1) % len(poly)]
        da, db = a[axis] - value, b[axis] - value
        if da < 0:
            lower.append(a)
        elif da > 0:
            upper.append(a)
        else:
            lower.append(a)
            upper.append(a)
        if (da < 0 < db) or (db < 0 < da):
            # Computed once and appended to both halves: the shared edge is then
            # bitwise identical, so the halves tile the input with no sliver.
            p = _crossing(a, b, axis, value)
            lower.append(p)
            upper.append(p)
    return _proper(lower, axis, value), _proper(upper, axis, value)


def _normalised_ring(poly: Ring) -> Ring:
    ring = [(float(x), float(y)) for x, y in poly]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring.pop()
    if len(ring) < 3:
        raise ValueError(f"a polygon needs at least 3 vertices, got {len(ring)}")
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in ring):
        raise ValueError("polygon vertices must be finite")
    arr = np.array(ring)
    nxt = np.roll(arr, -1, axis=0)
    area2 = float(np.sum(arr[:, 0] * nxt[:, 1] - nxt[:, 0] * arr[:, 1]))
    if area2 == 0:
        raise ValueError("polygon has zero area")
    if area2 < 0:
        ring.reverse()
        arr = arr[::-1]
        nxt = np.roll(arr, -1, axis=0)
    edge = nxt - arr
    following = np.roll(edge, -1, axis=0)
    cross = edge[:, 0] * following[:, 1] - edge[:, 1] * following[:, 0]
    dot = np.sum(edge * following, axis=1)
    lengths = np.hypot(edge[:, 0], edge[:, 1]) * np.hypot(following[:, 0], following[:, 1])
    # Left turns everywhere is not enough: a pentagram turns left too, but twice around.
    turning = float(np.sum(np.arctan2(cross, dot)))
    if np.any(cross < -_REL_TOL * lengths) or abs(turning - 2 * math.pi) > 1e-6:
        raise ValueError("polygon must be convex and simple")
    return ring


def _check_inside(ring: Ring, pts: np.ndarray) -> None:
    arr = np.array(ring)
    edge = np.roll(arr, -1, axis=0) - arr
    extent = float(np.ptp(arr, axis=0).max())
    for (ax, ay), (ex, ey) in zip(arr, edge, strict=True):
        cross = ex * (pts[:, 1] - ay) - ey * (pts[:, 0] - ax)
        if np.any(cross < -_REL_TOL * extent * math.hypot(ex, ey)):
            raise ValueError("every household point must lie inside the polygon")


def _cell_count(n: int, min_households: int, max_households: int, target: int) -> int:
    lo = -(-n // max_households)
    hi = n // min_households
    if n == 0 or lo > hi:
        raise ValueError(
            f"{n} households cannot be split into cells of "
            f"{min_households}-{max_households} households"
        )
    k = max(1, round(n / target))
    return min(max(k, lo), hi)


def _cut_value(coords: np.ndarray, ideal: int, lo_idx: int, hi_idx: int) -> float | None:
    # Index i puts the i smallest coordinates below the cut.  Only indices whose two
    # neighbours differ (with a representable midpoint) leave no point on the cut, so
    # coincident households, e.g. one building, are never separated.
    s = np.sort(coords)
    idx = np.arange(lo_idx, hi_idx + 1)
    below, above = s[idx - 1], s[idx]
    mids = below + (above - below) / 2
    usable = (below < mids) & (mids < above)
    if not usable.any():
        return None
    best = int(np.argmin(np.where(usable, np.abs(idx - ideal), np.iinfo(np.int64).max)))
    return float(mids[best])


def _bisect(
    ring: Ring, pts: np.ndarray, k: int, lo: int, hi: int, out: list[tuple[Ring, int]]
) -> None:
    if k == 1:
        out.append((ring, int(pts.shape[0])))
        return
    n = int(pts.shape[0])
    k1 = k // 2
    k2 = k - k1
    ideal = round(n * k1 / k)
    # Any split index in this window keeps n_part / k_part within [lo, hi] on both sides,
    # so every leaf ends up within bounds.
    lo_idx = max(lo * k1, n - hi * k2)
    hi_idx = min(hi * k1, n - lo * k2)
    xs = [v[0] for v in ring]
    ys = [v[1] for v in ring]
    longer = 0 if max(xs) - min(xs) >= max(ys) - min(ys) else 1
    for axis in (longer, 1 - longer):
        value = _cut_value(pts[:, axis], ideal, lo_idx, hi_idx)
        if value is not None:
            break
    else:
        raise ValueError("households cannot be split: too many share the same location")
    lower, upper = split_convex(ring, axis, value)
    below = pts[:, axis] < value
    _bisect(lower, pts[below], k1, lo, hi, out)
    _bisect(upper, pts[~below], k2, lo, hi, out)


def partition_households(
    poly: Ring,
    points: npt.ArrayLike,
    min_households: int = 300,
    max_households: int = 500,
    target: int = 400,
) -> list[tuple[Ring, int]]:
    """Cut a convex polygon into cells of min..max household points; return (ring, count)."""
    if not 1 <= min_households <= max_households or target < 1:
        raise ValueError(
            f"need 1 <= min_households <= max_households and target >= 1, got "
            f"{min_households}, {max_households}, {target}"
        )
    ring = _normalised_ring(poly)
    pts = as_xy(points)
    if not np.isfinite(pts).all():
        raise ValueError("household points must be finite")
    k = _cell_count(int(pts.shape[0]), min_households, max_households, target)
    _check_inside(ring, pts)
    cells: list[tuple[Ring, int]] = []
    _bisect(ring, pts, k, min_households, max_households, cells)
    return cells
