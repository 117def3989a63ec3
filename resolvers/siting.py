"""Maximal covering site selection (MCLP): choose `count` candidate sites so that the most
demand weight lies within reach of at least one of them.

Pure computation, no database: an instance is the demand weights and, per candidate, the
demand it reaches (the candidate–demand table). It is first reduced (demand with the same
reaching candidates merged, candidates that reach nothing dropped, candidates reaching the
same demand kept once), then solved as a MILP with PuLP + CBC under a time limit. Lazy greedy
with swap improvement runs too: it is the answer when CBC proves nothing better in time,
and `bound` (CBC's optimum, or else the LP relaxation solved in what is left of the time
limit, or bounds that need no solver) says how far from optimal it can be.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pulp
from pulp.apis.coin_api import PULP_CBC_CMD as _BUNDLED

CBC_PATH = _BUNDLED.pulp_cbc_path

METHOD_MILP = "MILP (PuLP + CBC)"
METHOD_GREEDY = "lazy greedy + swap"
METHOD_ALL = "every useful candidate"
# Time kept for building the model and for the greedy fallback, out of the caller's limit.
SETUP_SHARE = 0.1


@dataclass(frozen=True)
class Instance:
    """Demand weights, and for each candidate the indices of the demand it reaches."""

    weights: Sequence[float]
    reaches: Sequence[Sequence[int]]
    count: int


@dataclass
class Solution:
    chosen: list[int]  # candidate indices, in rank order (greedy order of marginal gain)
    gains: list[float]  # marginal gain of each in that order
    covered: float
    optimal: bool
    bound: float
    method: str
    solve_ms: float = 0.0

    @property
    def gap(self) -> float:
        return (self.bound - self.covered) / self.bound if self.bound > 0 else 0.0


@dataclass
class _Reduced:
    weights: list[float]  # merged demand
    reaches: list[list[int]]  # per kept candidate, merged demand indices
    original: list[int]  # kept candidate -> original candidate index
    count: int
    covered_by: list[list[int]] = field(default_factory=list)  # merged demand -> kept candidates


def reduce(instance: Instance) -> _Reduced:
    """Drops demand of no weight or out of every candidate's reach, candidates whose reach
    lies within another's (keeping the lowest of equals: the union of the rest reaches the
    same, so some optimum uses only them), and merges demand reached by the same candidates."""
    n, m = len(instance.weights), len(instance.reaches)
    within = np.zeros((n, m), dtype=bool)
    for j, reach in enumerate(instance.reaches):
        within[list(reach), j] = True
    weights = np.asarray(instance.weights, dtype=float)
    keep = (weights > 0) & within.any(axis=1)
    within, weights = within[keep], weights[keep]
    cols = within.T.astype(np.float32)
    shared = cols @ cols.T  # demand reached by both of two candidates
    size = np.diag(shared).copy()
    inside = shared >= size[:, None] - 0.5  # reach of row j lies within reach of column k
    np.fill_diagonal(inside, False)
    wider = (size[None, :] > size[:, None]) | (np.arange(m)[None, :] < np.arange(m)[:, None])
    useful = (size > 0) & ~(inside & wider).any(axis=1)
    kept = np.flatnonzero(useful)
    sub = within[:, kept]
    group: dict[bytes, int] = {}
    inverse = np.array([group.setdefault(key.tobytes(), len(group))
                        for key in np.packbits(sub, axis=1)], dtype=np.int64)
    first = np.zeros(len(group), dtype=np.int64)
    first[inverse[::-1]] = np.arange(len(inverse))[::-1]  # a demand row of each group
    rows = sub[first]
    merged = np.bincount(inverse, weights=weights, minlength=len(group))
    out = _Reduced(merged.tolist(), [np.flatnonzero(rows[:, k]).tolist() for k in range(len(kept))],
                   kept.tolist(), instance.count)
    out.covered_by = [np.flatnonzero(row).tolist() for row in rows]
    return out


def covered_weight(instance: Instance, chosen: Sequence[int]) -> float:
    """The demand weight reached by at least one chosen candidate."""
    reached = {i for j in chosen for i in instance.reaches[j]}
    return float(sum(instance.weights[i] for i in reached))


def lazy_greedy(r: _Reduced) -> list[int]:
    """Greedy by marginal gain with lazy re-evaluation (gains only shrink: submodularity);
    ties go to the lowest candidate."""
    covered = [False] * len(r.weights)
    heap = [(-sum(r.weights[d] for d in reach), k) for k, reach in enumerate(r.reaches)]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < r.count:
        neg, k = heapq.heappop(heap)
        gain = sum(r.weights[d] for d in r.reaches[k] if not covered[d])
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0] - 1e-9:
            heapq.heappush(heap, (-gain, k))
            continue
        chosen.append(k)
        for d in r.reaches[k]:
            covered[d] = True
    return chosen


def swap_improve(r: _Reduced, chosen: list[int], deadline: float) -> list[int]:
    """1-swap local search: replace a chosen site by another while that covers more."""
    chosen = list(chosen)
    times = [0] * len(r.weights)
    for k in chosen:
        for d in r.reaches[k]:
            times[d] += 1
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        in_use = set(chosen)
        for pos, out in enumerate(chosen):
            only = {d for d in r.reaches[out] if times[d] == 1}
            loss = sum(r.weights[d] for d in only)
            best, best_gain = None, loss + 1e-9
            for k in range(len(r.reaches)):
                if k in in_use:
                    continue
                gain = sum(r.weights[d] for d in r.reaches[k] if times[d] == 0 or d in only)
                if gain > best_gain:
                    best, best_gain = k, gain
            if best is not None:
                for d in r.reaches[out]:
                    times[d] -= 1
                for d in r.reaches[best]:
                    times[d] += 1
                chosen[pos] = best
                improved = True
                break
    return chosen


def _model(r: _Reduced, relaxed: bool) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """max Σ w_d y_d  s.t.  Σ x_k ≤ count,  y_d ≤ Σ_{k reaches d} x_k,  0 ≤ y ≤ 1, x binary.
    Demand reached by one candidate only is folded into that candidate's objective term."""
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    cat = pulp.LpContinuous if relaxed else pulp.LpBinary
    x = [prob.add_variable(f"x{k}", 0, 1, cat=cat) for k in range(len(r.reaches))]
    own = [0.0] * len(x)
    objective: list[tuple[pulp.LpVariable, float]] = []
    for d, ks in enumerate(r.covered_by):
        if len(ks) == 1:
            own[ks[0]] += r.weights[d]
            continue
        y = prob.add_variable(f"y{d}", 0, 1)
        objective.append((y, r.weights[d]))
        # y_d - Σ x_k ≤ 0, built from (variable, coefficient) pairs: lpSum is slow at this size.
        row = pulp.LpAffineExpression([(y, 1.0), *((x[k], -1.0) for k in ks)])
        prob.addConstraint(pulp.LpConstraint(row, pulp.LpConstraintLE, f"d{d}", 0.0))
    objective += [(xk, c) for xk, c in zip(x, own) if c]
    prob.setObjective(pulp.LpAffineExpression(objective))
    prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(xk, 1.0) for xk in x]),
                                         pulp.LpConstraintLE, "count", r.count))
    return prob, x


def cbc(time_limit_s: float | None = None) -> pulp.COIN_CMD:
    """CBC as shipped in PuLP's wheel (COIN_CMD pointed at it: PULP_CBC_CMD is deprecated)."""
    return pulp.COIN_CMD(path=CBC_PATH, msg=False, timeLimit=time_limit_s)


def lp_bound(r: _Reduced, time_limit_s: float) -> float | None:
    """The LP relaxation's optimum: an upper bound on any selection's covered weight. None
    when CBC does not prove it within the time limit (a simplex stopped early bounds nothing)."""
    prob, _ = _model(r, relaxed=True)
    prob.solve(cbc(time_limit_s))
    if prob.status != pulp.LpStatusOptimal or prob.sol_status != pulp.LpSolutionOptimal:
        return None
    return float(pulp.value(prob.objective) or 0.0)


def quick_bound(r: _Reduced, greedy_covered: float) -> float:
    """Upper bounds that need no solver: the `count` widest reaches together, all the demand
    within reach, and greedy's guarantee (it covers at least 1 - (1 - 1/count)^count of the
    optimum: Nemhauser, Wolsey and Fisher 1978), the least of them."""
    widest = sorted((sum(r.weights[d] for d in reach) for reach in r.reaches), reverse=True)
    guarantee = 1 - (1 - 1 / r.count) ** r.count if r.count > 0 else 1.0
    return min(sum(widest[:r.count]), sum(r.weights), greedy_covered / guarantee)


def _milp(r: _Reduced, time_limit_s: float) -> tuple[list[int], bool]:
    prob, x = _model(r, relaxed=False)
    prob.solve(cbc(max(0.1, time_limit_s)))
    optimal = prob.status == pulp.LpStatusOptimal and prob.sol_status == pulp.LpSolutionOptimal
    return [k for k, v in enumerate(x) if (v.value() or 0) > 0.5], optimal


def _rank(r: _Reduced, chosen: Sequence[int]) -> tuple[list[int], list[float]]:
    """The chosen sites in greedy order of marginal gain among themselves, with the gains;
    sites that add nothing after the others are left out."""
    left, covered = list(chosen), [False] * len(r.weights)
    order, gains = [], []
    while left:
        gain, k = max((sum(r.weights[d] for d in r.reaches[k] if not covered[d]), -k)
                      for k in left)
        if gain <= 0:
            break
        order.append(-k)
        gains.append(gain)
        left.remove(-k)
        for d in r.reaches[-k]:
            covered[d] = True
    return order, gains


def _total(r: _Reduced, chosen: Sequence[int]) -> float:
    return float(sum(r.weights[d] for d in {d for k in chosen for d in r.reaches[k]}))


def solve(instance: Instance, time_limit_s: float, *, use_milp: bool = True) -> Solution:
    """The best selection found: proven optimal by CBC within the time limit, or else the
    better of CBC's incumbent and lazy greedy + swap, with the LP bound. Without `use_milp`,
    lazy greedy + swap alone."""
    started = time.monotonic()
    r = reduce(instance)
    greedy = swap_improve(r, lazy_greedy(r), started + SETUP_SHARE * time_limit_s)
    chosen, optimal, method = greedy, False, METHOD_GREEDY
    if not use_milp:
        pass
    elif len(r.reaches) > r.count:
        left = time_limit_s - (time.monotonic() - started)
        if left > 0:
            milp, optimal = _milp(r, left)
            if _total(r, milp) >= _total(r, greedy) - 1e-9:
                chosen, method = milp, METHOD_MILP
            else:
                optimal = False
    else:  # every useful candidate fits: choosing them all is optimal
        chosen, optimal, method = list(range(len(r.reaches))), True, METHOD_ALL
    covered = _total(r, chosen)
    bound = covered
    if not optimal:  # the LP relaxation, in what is left of the time limit
        left = time_limit_s - (time.monotonic() - started)
        lp = lp_bound(r, left) if left > 0 else None
        quick = quick_bound(r, _total(r, greedy))
        bound = max(covered, quick if lp is None else min(lp, quick))
    order, gains = _rank(r, chosen)
    return Solution(chosen=[r.original[k] for k in order], gains=gains, covered=covered,
                    optimal=optimal, bound=bound, method=method,
                    solve_ms=(time.monotonic() - started) * 1000)
