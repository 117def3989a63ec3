"""The benchmark's verdicts (targets of bench/README.md) and its Markdown table."""

from __future__ import annotations

from typing import Any

# Targets (see bench/README.md).
HTTP_RATIO_MAX = 3.0
HTTP_OVERHEAD_MAX_MS = 1.5
SQL_MAX_MS = 0.5
RSS_MAX_MB = 400.0
# Above this share of one core used by other processes during a timed run, the table warns.
OTHER_CPU_WARN_PCT = 10.0

# Row kinds, in table order, with their labels.
LABELS = {
    "floor": ("SQL floor (the API's SQL, prepared)", "psycopg 3"),
    "healthz_wrk": ("GET /healthz (HTTP stack only, reference)", "wrk"),
    "http_wrk": ("**POST /graphql (full path)**", "wrk"),
    "healthz_httpx": ("GET /healthz (reference: Python client cost)", "httpx"),
    "http_httpx": ("POST /graphql (reference: Python client)", "httpx"),
}


def fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _activity(a: dict[str, Any] | None) -> str:
    if not a:
        return "CPU use unknown"
    procs = ", ".join(f"{p['comm']} {p['cpu_pct_of_one_core']}%" for p in a["busy_processes"])
    return f"CPU {a['cpu_busy_pct_all_cores']:.0f}% busy" + (f" ({procs})" if procs else "")


def _by(res: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["kind"], r["concurrency"]): r for r in res["runs"]}


def targets(res: dict[str, Any]) -> None:
    """Adds res["ratios"] and res["targets"] (PASS/FAIL as measured)."""
    by = _by(res)
    index = res["configuration"]["index"]
    f1, f16 = by[("floor", 1)], by[("floor", 16)]
    w1, w16 = by[("http_wrk", 1)], by[("http_wrk", 16)]
    x1, x16 = by[("http_httpx", 1)], by[("http_httpx", 16)]
    limit = max(HTTP_RATIO_MAX * f1["p50_ms"], f1["p50_ms"] + HTTP_OVERHEAD_MAX_MS)
    one, prep = res["explain"]["one_off"], res["explain"]["prepared"]
    rss = res["server_rss"]["max_mb"]

    wrk_runs = [r for r in res["runs"] if r.get("client") == "wrk"]
    non2xx = sum(r["check"]["non_2xx"] for r in wrk_runs)
    socket_errors = sum(r["check"]["socket_errors"] for r in wrk_runs)
    wrk_gql_errors = sum(r["check"]["responses_with_errors"] for r in wrk_runs)
    httpx_runs = [x1, x16]
    errors = sum(r["check"]["responses_with_errors"] for r in httpx_runs)
    differ = sum(r["check"]["results_differing_from_floor"] for r in httpx_runs)
    checked = sum(r["queries"] for r in httpx_runs)

    res["ratios"] = {
        "wrk_over_floor_p50_c1": round(w1["p50_ms"] / f1["p50_ms"], 2),
        "wrk_minus_floor_p50_c1_ms": round(w1["p50_ms"] - f1["p50_ms"], 3),
        "wrk_over_floor_p50_c16": round(w16["p50_ms"] / f16["p50_ms"], 2),
        "wrk_over_floor_throughput_c16": round(w16["throughput_rps"] / f16["throughput_rps"], 3),
        "httpx_over_floor_p50_c1": round(x1["p50_ms"] / f1["p50_ms"], 2),
        "httpx_minus_wrk_p50_c1_ms": round(x1["p50_ms"] - w1["p50_ms"], 3),
    }

    def plan_name(p: dict[str, Any]) -> str:
        if p["knn_index_scan"]:
            return f"KNN Index Scan on {index}"
        return "other (" + ("uses" if p["uses_index"] else "without") + f" {index})"

    h1 = w1["p50_ms"]
    fl = f1["p50_ms"]
    res["targets"] = [
        {"name": "HTTP p50 (wrk), concurrency 1", "measured": f"{h1:.3f} ms",
         "limit": f"≤ max(3 × {fl:.3f}, {fl:.3f} + 1.5) = {limit:.3f} ms", "pass": h1 <= limit},
        {"name": "SQL execution, one-off statement (custom plan: a new connection's first runs)",
         "measured": f"{one['execution_ms_median']:.3f} ms", "limit": f"< {SQL_MAX_MS} ms",
         "pass": one["execution_ms_median"] < SQL_MAX_MS},
        {"name": "SQL execution, prepared after 10 runs (generic plan: the steady state)",
         "measured": f"{prep['execution_ms_median']:.3f} ms", "limit": f"< {SQL_MAX_MS} ms",
         "pass": prep["execution_ms_median"] < SQL_MAX_MS},
        {"name": "plan, one-off statement", "measured": plan_name(one),
         "limit": f"KNN Index Scan on {index}", "pass": one["knn_index_scan"]},
        {"name": "plan, prepared statement", "measured": plan_name(prep),
         "limit": f"KNN Index Scan on {index}", "pass": prep["knn_index_scan"]},
        {"name": "server RSS (max)", "measured": f"{rss:.1f} MB" if rss else "n/a",
         "limit": f"< {RSS_MAX_MB:.0f} MB", "pass": rss is not None and rss < RSS_MAX_MB},
        {"name": f"wrk runs ({sum(r['queries'] for r in wrk_runs):,} timed responses): non-2xx / "
                 "socket errors / GraphQL errors",
         "measured": f"{non2xx} / {socket_errors} / {wrk_gql_errors}", "limit": "0 / 0 / 0",
         "pass": non2xx == 0 and socket_errors == 0 and wrk_gql_errors == 0},
        {"name": f"GraphQL answers ({checked:,} via httpx, same bodies as wrk's): errors / "
                 "tickets differing from the SQL floor's",
         "measured": f"{errors} / {differ}", "limit": "0 / 0",
         "pass": errors == 0 and differ == 0},
    ]


def markdown(res: dict[str, Any]) -> str:
    m, v, d, c = res["machine"], res["versions"], res["dataset"], res["configuration"]
    load0, load1 = m["loadavg_start"], m.get("loadavg_end")
    lines = [
        f"nearbyTickets benchmark, {res['date']}: {d['tickets']:,} tickets "
        f"({d['open_tickets']:,} open); radius {c['radius_m']:.0f} m, first {c['first']}. "
        f"The same {c['queries']:,} random points (seed {c['seed']}) everywhere: the SQL floor "
        f"and httpx run each once after {c['warmup']} warm-up queries on other points; wrk "
        f"cycles through them in order for {c['wrk_duration_s']:g} s after a "
        f"{c['wrk_warmup_s']:g} s run on the warm-up points.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; load average "
        f"{load0[0]:.2f} at start, {fmt(load1[0] if load1 else None, 2)} at end; "
        f"{_activity(m.get('activity_start'))} in the second before the run. "
        f"Python {v['python']}, PostgreSQL {v['postgresql']}, PostGIS {v['postgis']}, "
        f"{v['wrk']}.",
        "",
        "| configuration | client | concurrency | requests | p50 ms | p99 ms | mean ms | req/s "
        "| client CPU ms/req | server CPU ms/req | other CPU % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order = list(LABELS)
    for r in sorted(res["runs"], key=lambda r: (order.index(r["kind"]), r["concurrency"])):
        label, client = LABELS[r["kind"]]
        if r.get("wrk_threads"):
            client += f" -t{r['wrk_threads']} -c{r['connections']}"
        lines.append(f"| {label} | {client} | {r['concurrency']} | {r['queries']:,} | "
                     f"{fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {fmt(r['mean_ms'])} | "
                     f"{r['throughput_rps']:,.0f} | {fmt(r.get('client_cpu_ms_per_req'), 3)} | "
                     f"{fmt(r.get('server_cpu_ms_per_req'), 2)} | "
                     f"{fmt(r.get('other_cpu_pct'), 0)} |")
    busy = [r for r in res["runs"] if (r.get("other_cpu_pct") or 0) > OTHER_CPU_WARN_PCT]
    if busy:
        worst = max(busy, key=lambda r: r["other_cpu_pct"])
        lines += ["", f"**Warning: the machine was not idle.** Other processes used more than "
                  f"{OTHER_CPU_WARN_PCT:.0f}% of a core during {len(busy)} of the timed runs "
                  f"(up to {worst['other_cpu_pct']:.0f}%, {LABELS[worst['kind']][1]} at "
                  f"concurrency {worst['concurrency']}); those numbers are disturbed."]
    lines += ["", "| target | measured | limit | result |", "| --- | ---: | ---: | --- |"]
    for t in res["targets"]:
        lines.append(f"| {t['name']} | {t['measured']} | {t['limit']} | "
                     f"{'PASS' if t['pass'] else 'FAIL'} |")
    ra = res["ratios"]
    lines += [
        "",
        f"HTTP (wrk) p50 / floor p50 at concurrency 1: {ra['wrk_over_floor_p50_c1']:.2f}x "
        f"(+{ra['wrk_minus_floor_p50_c1_ms']:.3f} ms); at 16: {ra['wrk_over_floor_p50_c16']:.2f}x,"
        f" throughput {ra['wrk_over_floor_throughput_c16']:.2f}x the floor's. The httpx client "
        f"adds {ra['httpx_minus_wrk_p50_c1_ms']:.3f} ms to the p50 at concurrency 1. "
        f"SQL execution at the centre point (EXPLAIN ANALYZE, median of 5): one-off "
        f"{res['explain']['one_off']['execution_ms_median']:.3f} ms, prepared "
        f"{res['explain']['prepared']['execution_ms_median']:.3f} ms. "
        f"Server RSS: max {fmt(res['server_rss']['max_mb'], 1)} MB, "
        f"final {fmt(res['server_rss']['final_mb'], 1)} MB.",
    ]
    seed = res.get("seed")
    if seed:
        lines.append(f"Seed of {seed['bulk']['tickets']:,} bulk tickets ({seed['date']}): "
                     f"{seed['bulk']['wall_s']:.0f} s, peak RSS {seed['bulk']['max_rss_mb']:.0f} MB"
                     f" (demo data: {seed['demo']['wall_s']:.1f} s).")
    return "\n".join(lines) + "\n"
