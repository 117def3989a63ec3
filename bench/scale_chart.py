"""The chart of bench/results/scale.json: p50 of Q1 and Q4 (RedGrid and the SQL floor) and
throughput against the number of tickets, log x. Needs matplotlib (benchmark only: .venv-bench).

    .venv-bench/bin/python bench/scale_chart.py bench/results/scale.json bench/results/scale.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LINES = (("Q1", "#c0392b"), ("Q4", "#2c3e50"))
MARKERS = {"1": "o", "16": "s"}


def main(source: str, target: str) -> None:
    report = json.load(open(source, encoding="utf-8"))
    sizes = report["sizes"]
    tickets = [s["dataset"]["tickets"] for s in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, colour in LINES:
        for c in report["method"]["concurrencies"]:
            c = str(c)
            values = [s["median"][name][c] for s in sizes]
            left.plot(tickets, [v["p50_ms"] for v in values], marker=MARKERS.get(c, "o"),
                      color=colour, label=f"{name} RedGrid, c{c}")
            left.plot(tickets, [v["floor_p50_ms"] for v in values], marker=MARKERS.get(c, "o"),
                      color=colour, linestyle=":", alpha=0.6, label=f"{name} SQL floor, c{c}")
            right.plot(tickets, [v["throughput_rps"] for v in values],
                       marker=MARKERS.get(c, "o"), color=colour, label=f"{name} RedGrid, c{c}")
    unseen = [s["median"].get("Q1_unseen_floor") for s in sizes]
    if all(unseen):
        left.plot(tickets, [u["p50_ms"] for u in unseen], marker="^", color="#e67e22",
                  linestyle="--", label="Q1 SQL floor, unseen points, c1")
    for ax, title in ((left, "p50 latency, ms (log)"), (right, "throughput, req/s")):
        ax.set_xscale("log")
        ax.set_xlabel("tickets in the database (log)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    left.set_yscale("log")
    left.set_ylim(top=left.get_ylim()[1] * 12)  # room for the legend above the lines
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    right.set_ylim(bottom=0)
    fig.suptitle(f"RedGrid scale curve ({report['date']}, commit {report['commit']}; medians of "
                 f"{report['method']['rounds']} rounds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
