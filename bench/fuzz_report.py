"""The recorded result of `make fuzz`: what tests/web/test_fuzz_graphql.py reported of its
run (REDGRID_FUZZ_REPORT), with the commit, the date and the machine's load, as
bench/results/fuzz.json and fuzz.md.

    python bench/fuzz_report.py RAW.json --commit abc1234 --exit-code 0 --load-before "1.0 1.2 1.3"
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

CHECKOUT = Path(__file__).resolve().parent.parent
RESULTS = CHECKOUT / "bench" / "results"


def markdown(result: dict[str, Any]) -> str:
    lines = [f"# Fuzzing /graphql (commit {result['commit']}, {result['when']})", "",
             "schemathesis in GraphQL mode over every query and mutation of schema.graphql, "
             "derandomised, as the public and as the county office, against a demo database of "
             "its own; the webhook handshake's outbound call is stubbed at the network edge "
             f"(`make fuzz`: tests/web/test_fuzz_graphql.py). {result['machine']}; load average "
             f"{result['load_before']} before, {result['load_after']} after.", "",
             "| caller | operations | HTTP 5xx | INTERNAL_SERVER_ERROR | failures |",
             "|---|---:|---:|---:|---:|"]
    for caller, run in result["callers"].items():
        lines.append(f"| {caller} | {run['operations']:,} | {run['http_5xx']} | "
                     f"{run['internal_server_errors']} | {run['failures']} |")
    lines += [f"| all | {result['operations']:,} | {result['http_5xx']} | "
              f"{result['internal_server_errors']} | {result['failures']} |", "",
              f"{result['seconds']:,.1f} s of fuzzing; pytest exited {result['exit_code']} "
              f"({'pass' if result['exit_code'] == 0 else '**fail**'}).", "",
              "Error codes met (GraphQL `extensions.code`, per caller):", ""]
    for caller, run in result["callers"].items():
        codes = ", ".join(f"{code} {n:,}" for code, n in run["error_codes"].items()) or "none"
        lines.append(f"- {caller}: {codes}")
    examples = [e for run in result["callers"].values() for e in run["failure_examples"]]
    if examples:
        lines += ["", "Failures (first of each caller):", ""]
        lines += ["```", *examples, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("raw", type=Path)
    parser.add_argument("--commit", required=True, help="the commit the run started on")
    parser.add_argument("--exit-code", type=int, required=True)
    parser.add_argument("--load-before", required=True)
    args = parser.parse_args()
    raw = json.loads(args.raw.read_text(encoding="utf-8"))
    callers = raw["callers"]
    result = {
        "commit": args.commit,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load_before": args.load_before,
        "load_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "exit_code": args.exit_code,
        "operations": raw["operations"],
        "seconds": raw["seconds"],
        "http_5xx": sum(c["http_5xx"] for c in callers.values()),
        "internal_server_errors": sum(c["internal_server_errors"] for c in callers.values()),
        "failures": sum(c["failures"] for c in callers.values()),
        "callers": callers,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    (RESULTS / "fuzz.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
