"""The chart of bench/results/peer.json: throughput and p50 of RedGrid, PostGraphile and the SQL
floor per query and concurrency. Needs matplotlib (benchmark only: .venv-bench).

    .venv-bench/bin/python bench/peer_chart.py bench/results/peer.json bench/results/peer.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIDES = (("redgrid", "RedGrid", "#c0392b"), ("postgraphile", "PostGraphile", "#2c3e50"),
         ("floor", "SQL floor (psycopg)", "#95a5a6"))


def main(source: str, target: str) -> None:
    report = json.load(open(source, encoding="utf-8"))
    cases = report["cases"]
    concurrencies = list(cases[0]["results"])
    fig, axes = plt.subplots(2, len(concurrencies), figsize=(5 * len(concurrencies), 7.5),
                             squeeze=False)
    names = [c["name"] for c in cases]
    width = 0.27
    for col, conc in enumerate(concurrencies):
        for row, (metric, title) in enumerate((("throughput_rps", "req/s"),
                                               ("p50_ms", "p50 ms (log)"))):
            ax = axes[row][col]
            for k, (side, label, colour) in enumerate(SIDES):
                values = [c["results"][conc][side][metric] for c in cases]
                ax.bar([i + (k - 1) * width for i in range(len(cases))], values, width,
                       label=label, color=colour)
            ax.set_xticks(range(len(cases)), names)
            ax.set_title(f"{title}, concurrency {conc}")
            if metric == "p50_ms":
                ax.set_yscale("log")
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"RedGrid vs PostGraphile v4 on {report['tickets']:,} tickets "
                 f"({report['date']}, commit {report['commit']}, one server process each)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
