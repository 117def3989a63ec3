"""Market-fair groups 万市大集: a partition of communities into contiguous groups of a few
neighbours, with the least sum of distances within groups.

Pure computation, no database. Every connected group of an allowed size is enumerated from
the border graph, then a set-partitioning MILP (PuLP + CBC) picks groups covering each
community exactly once at the least total cost: an exact answer, not a heuristic.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pulp

from resolvers.siting import cbc


class NoPartition(ValueError):
    """No partition into connected groups of the allowed sizes exists."""


def connected_groups(neighbours: Sequence[set[int]], min_size: int,
                     max_size: int) -> list[tuple[int, ...]]:
    """Every set of `min_size`–`max_size` nodes that is connected in the graph, each once
    (grown from its lowest node through higher ones)."""
    found: set[tuple[int, ...]] = set()
    for root in range(len(neighbours)):
        frontier: set[frozenset[int]] = {frozenset({root})}
        for size in range(1, max_size + 1):
            if size >= min_size:
                found.update(tuple(sorted(g)) for g in frontier)
            if size == max_size:
                break
            frontier = {g | {n} for g in frontier for m in g for n in neighbours[m]
                        if n > root and n not in g}
    return sorted(found)


def group_cost(group: Sequence[int], metres: Mapping[tuple[int, int], float]) -> float:
    """The sum of distances between every two members."""
    return sum(metres[(a, b)] for a, b in itertools.combinations(sorted(group), 2))


def partition(neighbours: Sequence[set[int]], metres: Mapping[tuple[int, int], float],
              min_size: int, max_size: int, time_limit_s: float = 30.0) -> list[tuple[int, ...]]:
    """The contiguous partition with the least sum of within-group distances."""
    groups = connected_groups(neighbours, min_size, max_size)
    prob = pulp.LpProblem("market_groups", pulp.LpMinimize)
    x = [prob.add_variable(f"g{k}", 0, 1, cat=pulp.LpBinary) for k in range(len(groups))]
    prob += pulp.lpSum(group_cost(g, metres) * xk for g, xk in zip(groups, x))
    member_of: list[list[int]] = [[] for _ in neighbours]
    for k, g in enumerate(groups):
        for n in g:
            member_of[n].append(k)
    for n, ks in enumerate(member_of):
        if not ks:
            raise NoPartition(f"node {n} belongs to no connected group of the allowed sizes")
        prob += pulp.lpSum(x[k] for k in ks) == 1
    prob.solve(cbc(time_limit_s))
    if prob.status != pulp.LpStatusOptimal:
        raise NoPartition("no partition into connected groups of the allowed sizes")
    return [groups[k] for k, xk in enumerate(x) if (xk.value() or 0) > 0.5]
