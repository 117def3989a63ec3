"""The reference side of bench/site_selection.py: PySAL spopt's MCLP (build + CBC solve) on an
instance file; prints JSON. Runs in the benchmark-only environment `.venv-bench` (spopt is not
a RedGrid dependency): `.venv-bench/bin/python bench/_spopt_mclp.py INSTANCE.npz`."""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import pulp
from spopt.locate import MCLP


def main(path: str) -> None:
    data = np.load(path)
    cost, weights = data["cost"], data["weights"]
    radius, sites = float(data["radius"]), int(data["sites"])
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=sites)
        built = time.perf_counter()
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    solved = time.perf_counter()
    chosen = [j for j in range(cost.shape[1]) if model.fac_vars[j].value() > 0.5]
    covered = float(weights[(cost[:, chosen] <= radius).any(axis=1)].sum())
    print(json.dumps({"build_s": built - started, "solve_s": solved - built,
                      "total_s": solved - started, "covered": covered, "chosen": chosen,
                      "status": pulp.LpStatus[model.problem.status]}))


if __name__ == "__main__":
    main(sys.argv[1])
