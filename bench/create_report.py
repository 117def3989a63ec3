"""The createTicket benchmark's verdicts and its Markdown table."""

from __future__ import annotations

from typing import Any

from _report import fmt

TARGET_RATIO = 0.5
OTHER_CPU_WARN_PCT = 10.0



def verdicts(res: dict[str, Any]) -> None:
    by = {(r["kind"], r["concurrency"]): r for r in res["runs"]}
    f16, h16 = by.get(("floor", 16)), by.get(("http", 16))
    f1, h1 = by.get(("floor", 1)), by.get(("http", 1))
    ratios: dict[str, Any] = {}
    if f16 and h16:
        ratios["http_over_floor_throughput_c16"] = round(
            h16["tickets_per_s"] / f16["tickets_per_s"], 3)
    if f1 and h1:
        ratios["http_over_floor_throughput_c1"] = round(
            h1["tickets_per_s"] / f1["tickets_per_s"], 3)
        ratios["http_minus_floor_p50_c1_ms"] = round(h1["p50_ms"] - f1["p50_ms"], 3)
    res["ratios"] = ratios
    http_runs = [r for r in res["runs"] if r["kind"] == "http"]
    clean = all(r["check"]["created"] == r["check"]["bodies"] and r["check"]["non_2xx"] == 0
                and r["check"]["socket_errors"] == 0 and r["check"]["timeouts"] == 0
                and r["check"]["answers_without_ticket"] == 0 for r in http_runs)
    ratio = ratios.get("http_over_floor_throughput_c16")
    res["targets"] = [
        {"name": "createTicket throughput at concurrency 16, HTTP (wrk) / SQL floor",
         "measured": (f"{h16['tickets_per_s']:.1f} / {f16['tickets_per_s']:.1f} tickets/s = "
                      f"{ratio:.3f}×") if ratio is not None and f16 and h16 else "n/a",
         "limit": f"≥ {TARGET_RATIO}×", "pass": ratio is not None and ratio >= TARGET_RATIO},
        {"name": "every HTTP request answered 200 with a created ticket (no errors, no "
                 "socket errors or timeouts)",
         "measured": ", ".join(f"c{r['concurrency']}: {r['check']['created']}/"
                               f"{r['check']['bodies']}" for r in http_runs),
         "limit": "all", "pass": clean and bool(http_runs)},
        {"name": "database check: one ticket per successful request, each key once, with its "
                 "events, units and notifications; HTTP tickets routed like their floor twins",
         "measured": "ok" if res.get("verification", {}).get("ok") else "FAILED (see JSON)",
         "limit": "ok", "pass": bool(res.get("verification", {}).get("ok"))},
    ]


def markdown(res: dict[str, Any]) -> str:
    m, v, d, c = res["machine"], res["versions"], res["dataset"], res["configuration"]
    load0, load1 = m["loadavg_start"], m.get("loadavg_end") or [None]

    def activity(a: dict[str, Any] | None) -> str:
        if not a:
            return "CPU use unknown"
        procs = ", ".join(f"{p['comm']} {p['cpu_pct_of_one_core']}%" for p in a["busy_processes"])
        return f"CPU {a['cpu_busy_pct_all_cores']:.0f}% busy" + (f" ({procs})" if procs else "")

    interval = c["server_webhook_interval_s"]
    worker = f"ON every {interval:g} s" if interval else "OFF"
    lines = [
        f"createTicket benchmark, {res['date']}, database `{d['database']}` (fresh: migrations + "
        f"demo data, {d['tickets']:,} tickets, {d['compounds']:,} compounds, "
        f"{d['grid_cells']:,} grid cells before the runs). Each configuration files the same "
        f"tickets (points inside compounds, items P01–P46, seed {c['seed']}): "
        f"{c['tickets_c16']:,} at concurrency 16, {c['tickets_c1']:,} at concurrency 1, each "
        f"with its own idempotency key, after warm-ups on other points. Webhook worker "
        f"{worker} in the server; the notification rows are written at commit by the outbox "
        "trigger on both sides.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; load average "
        f"{load0[0]:.2f} at start, {fmt(load1[0], 2)} at end; {activity(m.get('activity_start'))}"
        f" in the second before the runs. Python {v['python']}, PostgreSQL {v['postgresql']}, "
        f"PostGIS {v['postgis']}, psycopg {v['psycopg']}, strawberry {v['strawberry-graphql']}, "
        f"uvicorn {v['uvicorn']}, {v['wrk']}; synchronous_commit={v['synchronous_commit']}, "
        f"fsync={v['fsync']}.",
        "",
        "| configuration | client | concurrency | tickets | wall s | **tickets/s** | p50 ms "
        "| p99 ms | server CPU ms/ticket | PostgreSQL CPU ms/ticket | client CPU ms/ticket "
        "| other CPU % | steal % |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    label = {"floor": "SQL floor (same statements, psycopg 3, prepared)",
             "http": "POST /graphql createTicket (full path)"}
    for r in res["runs"]:
        other = r["other_cpu_pct"]
        warn = " ⚠" if other is not None and other > OTHER_CPU_WARN_PCT else ""
        lines.append(
            f"| {label[r['kind']]} | {r['client']} | {r['concurrency']} | {r['created']:,} "
            f"| {r['wall_s']:.2f} | **{r['tickets_per_s']:.1f}** | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {fmt(r['server_cpu_ms_per_ticket'], 2)} "
            f"| {fmt(r['postgres_cpu_ms_per_ticket'], 2)} "
            f"| {fmt(r['client_cpu_ms_per_ticket'], 2)} | {fmt(other, 1)}{warn} "
            f"| {fmt(r.get('steal_cpu_pct'), 1)} |")
    lines.append("")
    ratios = res.get("ratios", {})
    lines.append(f"HTTP / floor throughput: {fmt(ratios.get('http_over_floor_throughput_c16'))}× "
                 f"at concurrency 16, {fmt(ratios.get('http_over_floor_throughput_c1'))}× at "
                 f"concurrency 1 (p50 +{fmt(ratios.get('http_minus_floor_p50_c1_ms'), 2)} ms).")
    lines += ["", "| target | measured | limit | result |", "| --- | --- | --- | --- |"]
    for t in res.get("targets", []):
        lines.append(f"| {t['name']} | {t['measured']} | {t['limit']} | "
                     f"{'PASS' if t['pass'] else '**FAIL**'} |")
    ver = res.get("verification")
    if ver:
        tw = ver["twins"]
        lines += ["", f"Database check: {'ok' if ver['ok'] else 'FAILED'}; "
                      f"{tw['pairs']:,} floor/HTTP ticket pairs, {tw['differing']} routed "
                      f"differently, {tw['units_differing']} with other units, "
                      f"{tw['notifications_differing']} with other notifications; "
                      f"{ver['duplicate_keys']} duplicate keys."]
    for r in res["runs"]:
        cpu = [f"server {fmt(r['server_cpu_pct_of_one_core'], 0)}%"
               if r["server_cpu_pct_of_one_core"] is not None else None,
               f"PostgreSQL {fmt(r['postgres_cpu_pct_of_one_core'], 0)}%",
               f"client {fmt(r['client_cpu_pct_of_one_core'], 0)}%"]
        lines.append(f"- {r['kind']} c{r['concurrency']}: CPU in % of one core during the run: "
                     + ", ".join(x for x in cpu if x) + ".")
    return "\n".join(lines) + "\n"
