"""Site selection (maximal covering) and market-fair grouping against brute force on small
instances: the MILP's optimum, never worse than greedy, a bound never below the optimum, and
the fallback's bound when the MILP is not allowed to run."""

from __future__ import annotations

import itertools
import random

import pulp
import pytest

from resolvers import grouping, siting


def _instance(seed: int, demand: int = 40, candidates: int = 14, count: int = 3) -> siting.Instance:
    rng = random.Random(seed)
    weights = [float(rng.randint(1, 100)) for _ in range(demand)]
    reaches = [rng.sample(range(demand), rng.randint(1, 9)) for _ in range(candidates)]
    return siting.Instance(weights, reaches, count)


def _optimum(instance: siting.Instance) -> float:
    return max(siting.covered_weight(instance, combo)
               for combo in itertools.combinations(range(len(instance.reaches)), instance.count))


@pytest.mark.parametrize("seed", range(8))
def test_milp_matches_brute_force_and_beats_greedy(seed: int) -> None:
    instance = _instance(seed)
    best = _optimum(instance)
    solution = siting.solve(instance, time_limit_s=10)
    assert solution.optimal and solution.method == siting.METHOD_MILP
    assert solution.covered == pytest.approx(best)
    assert siting.covered_weight(instance, solution.chosen) == pytest.approx(best)
    assert solution.bound >= best - 1e-9 and solution.gap == pytest.approx(0.0)
    reduced = siting.reduce(instance)
    greedy = [reduced.original[k] for k in siting.lazy_greedy(reduced)]
    assert solution.covered >= siting.covered_weight(instance, greedy) - 1e-9
    assert sum(solution.gains) == pytest.approx(solution.covered)
    assert solution.gains == sorted(solution.gains, reverse=True)


@pytest.mark.parametrize("seed", range(8))
def test_fallback_bound_is_valid(seed: int) -> None:
    instance = _instance(seed, demand=60, candidates=16, count=4)
    best = _optimum(instance)
    solution = siting.solve(instance, time_limit_s=10, use_milp=False)
    assert solution.method == siting.METHOD_GREEDY and not solution.optimal
    assert solution.covered <= best + 1e-9
    assert solution.bound >= best - 1e-9
    assert 0.0 <= solution.gap == pytest.approx((solution.bound - solution.covered) / solution.bound)


@pytest.mark.parametrize("seed", range(8))
def test_the_bounds_without_a_solver_are_valid(seed: int) -> None:
    instance = _instance(seed, demand=60, candidates=16, count=4)
    reduced = siting.reduce(instance)
    greedy = siting.covered_weight(instance, [reduced.original[k]
                                              for k in siting.lazy_greedy(reduced)])
    assert greedy <= _optimum(instance) <= siting.quick_bound(reduced, greedy) + 1e-9


def test_the_lp_bound_keeps_to_what_is_left_of_the_time_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    limits: list[float | None] = []
    real = siting.cbc

    def watched(time_limit_s: float | None = None) -> pulp.COIN_CMD:
        limits.append(time_limit_s)
        return real(time_limit_s)

    monkeypatch.setattr(siting, "cbc", watched)
    instance = _instance(5, demand=60, candidates=16, count=4)
    best = _optimum(instance)
    solution = siting.solve(instance, time_limit_s=3, use_milp=False)
    assert len(limits) == 1 and limits[0] is not None and 0 < limits[0] <= 3
    assert solution.bound >= best - 1e-9
    # no time left after greedy: no CBC run, and still a valid bound
    limits.clear()
    late = siting.solve(instance, time_limit_s=1e-9, use_milp=False)
    assert limits == [] and not late.optimal and late.bound >= best - 1e-9


def test_fewer_useful_candidates_than_sites() -> None:
    instance = siting.Instance([5.0, 3.0, 0.0], [[0], [0, 1], [], [2]], count=3)
    solution = siting.solve(instance, time_limit_s=5)
    assert solution.optimal and solution.covered == 8.0 and solution.chosen == [1]
    assert solution.method == siting.METHOD_ALL


def _brute_partitions(nodes: list[int], sizes: range):  # type: ignore[no-untyped-def]
    if not nodes:
        yield []
        return
    first, rest = nodes[0], nodes[1:]
    for size in sizes:
        for others in itertools.combinations(rest, size - 1):
            group = (first, *others)
            left = [n for n in rest if n not in others]
            for tail in _brute_partitions(left, sizes):
                yield [group, *tail]


def test_partition_matches_brute_force_on_a_grid() -> None:
    # A 3 x 4 grid of cells with 4-neighbour borders and jittered centres.
    rng = random.Random(3)
    cells = [(r, c) for r in range(3) for c in range(4)]
    xy = [(c * 100 + rng.uniform(-30, 30), r * 100 + rng.uniform(-30, 30)) for r, c in cells]
    neighbours = [{j for j, (r2, c2) in enumerate(cells) if abs(r - r2) + abs(c - c2) == 1}
                  for r, c in cells]
    metres = {(i, j): ((xy[i][0] - xy[j][0]) ** 2 + (xy[i][1] - xy[j][1]) ** 2) ** 0.5
              for i in range(12) for j in range(i + 1, 12)}
    connected = set(grouping.connected_groups(neighbours, 3, 4))
    best = min(sum(grouping.group_cost(g, metres) for g in p)
               for p in _brute_partitions(list(range(12)), range(3, 5))
               if all(tuple(sorted(g)) in connected for g in p))
    got = grouping.partition(neighbours, metres, 3, 4)
    assert sorted(n for g in got for n in g) == list(range(12))
    assert all(g in connected for g in got)
    assert sum(grouping.group_cost(g, metres) for g in got) == pytest.approx(best)


def test_connected_groups_are_connected_and_complete() -> None:
    path = [{1}, {0, 2}, {1, 3}, {2}]  # 0-1-2-3
    assert grouping.connected_groups(path, 2, 3) == [(0, 1), (0, 1, 2), (1, 2), (1, 2, 3), (2, 3)]
    with pytest.raises(grouping.NoPartition):
        grouping.partition(path, {(i, j): 1.0 for i in range(4) for j in range(i + 1, 4)}, 3, 3)
