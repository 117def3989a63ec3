"""Benchmark of the vector tiles: the tile SQL alone (psycopg, prepared) against GET .mvt over HTTP.

Run by `make bench` (scripts/bench.sh) after the nearbyTickets benchmark, on the database
`redgrid_bench` it seeds (demo data plus 1,000,000 bulk tickets). By hand:

    REDGRID_DATABASE=redgrid_bench .venv/bin/python bench/tiles.py [--tiles 16 --passes 3]

For each layer and zoom (z12 to z16) the tiles over the county are shuffled (fixed seed) and
the first N that hold features are kept; one pass over the candidates on the floor's
connection is the warm-up. The SQL floor runs exactly the statement the API runs for that tile
and caller (web.tiles.source_of + db.queries.tiles.tile_query) through psycopg with the API's
connection settings; wrk GETs the same tiles for a fixed time (bench/wrk_cycle.lua); httpx GETs
each once and checks that the body is byte for byte the floor's. The full-county compounds
FeatureCollection (GraphQL `layer(name: COMPOUNDS)`) is timed over HTTP as well, or recorded as
"not measured" where the server has no such field. Writes bench/results/tiles.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import _wrk
import httpx
import psycopg
from _context import result_head
from _report import fmt
from _server import OtherCpu, bench_target, run_with_server_log, start_server
from nearby_tickets import CpuMeter, run_workers, summarise
from psycopg.rows import namedtuple_row

from db.queries.layers import LAYERS
from db.queries.tiles import NO_FILTERS, TILE_SESSION, TileKey, TileSource, cell_ticket_counts, tile_query
from resolvers.actor import Actor, Role
from resolvers.disclosure import disclosure
from web.auth import mint
from web.settings import Settings
from web.tiles import source_of

CHECKOUT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "redgrid_bench"
COUNTY = (118.613, 34.886, 118.701, 34.950)
ZOOMS = (12, 13, 14, 15, 16)
CONCURRENCIES = (1, 4)
WRK_THREADS = {1: 1, 4: 2}
RATIO_MAX = 1.3
MIN_FLOOR_SAMPLES = 200
REQUEST_TIMEOUT_S = 60.0
FEATURES = "{ layer(name: COMPOUNDS) }"
R = 6378137.0


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    x = R * math.radians(lon)
    y = R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    size = 2 * math.pi * R / 2**z
    return int((x + math.pi * R) // size), int((math.pi * R - y) // size)


def county_tiles(z: int, seed: int) -> list[tuple[int, int]]:
    """Every tile of zoom z over the county, in a shuffled (reproducible) order."""
    x0, y0 = tile_of(COUNTY[0], COUNTY[3], z)
    x1, y1 = tile_of(COUNTY[2], COUNTY[1], z)
    out = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    random.Random(seed * 100 + z).shuffle(out)
    return out


def actor_for(role: Role) -> Actor:
    return Actor("bench", role, ())


def path_of(layer: str, z: int, xy: tuple[int, int]) -> str:
    return f"/tiles/{layer}/{z}/{xy[0]}/{xy[1]}.mvt"


# --------------------------------------------------------------------------- the SQL floor

async def connect(conninfo: str) -> psycopg.AsyncConnection[Any]:
    """A connection set up like the API's tile pool (autocommit, prepared from the 2nd run,
    generic plans)."""
    session = {**TILE_SESSION, "statement_timeout": "60000"}
    return await psycopg.AsyncConnection.connect(
        conninfo, prepare_threshold=1, autocommit=True, row_factory=namedtuple_row,
        options=" ".join(f"-c {k}={v}" for k, v in session.items()))


async def source_for(conninfo: str, layer: str, z: int, role: Role) -> TileSource:
    """The source the API draws for `role` (web.tiles.source_of), with the per-cell ticket
    counts that low-zoom ticket tiles draw from, counted once as the server does per minute."""
    conn = await connect(conninfo)
    try:
        counted = await cell_ticket_counts(conn, NO_FILTERS)
    finally:
        await conn.close()
    return source_of(LAYERS[layer], z, disclosure(actor_for(role)), NO_FILTERS, counted)


async def pick_tiles(conninfo: str, layer: str, z: int, role: Role, n: int,
                     seed: int) -> tuple[list[tuple[int, int]], dict[tuple[int, int], bytes]]:
    """The first n shuffled county tiles that hold features, and their bytes (the warm-up)."""
    source = await source_for(conninfo, layer, z, role)
    kept: list[tuple[int, int]] = []
    bodies: dict[tuple[int, int], bytes] = {}
    conn = await connect(conninfo)
    try:
        for xy in county_tiles(z, seed):
            sql, params = tile_query(source, TileKey(z, *xy))
            row = await (await conn.execute(sql, params)).fetchone()
            body = bytes(row[0]) if row is not None and row[0] is not None else b""
            if body:
                kept.append(xy)
                bodies[xy] = body
            if len(kept) == n:
                break
    finally:
        await conn.close()
    return kept, bodies


def floor_passes(args: argparse.Namespace, tiles: list[tuple[int, int]]) -> int:
    """Passes over the tiles: at least `--passes`, and enough for MIN_FLOOR_SAMPLES timings
    (z12 holds only 2 county tiles: 10 passes would put a p99 on 20 samples)."""
    return max(args.passes, math.ceil(MIN_FLOOR_SAMPLES / max(1, len(tiles))))


async def floor_run(conninfo: str, layer: str, z: int, role: Role, tiles: list[tuple[int, int]],
                    passes: int, concurrency: int) -> dict[str, Any]:
    """The API's tile SQL through psycopg, one connection per worker, `passes` over the tiles."""
    source = await source_for(conninfo, layer, z, role)
    queries = [tile_query(source, TileKey(z, *xy)) for xy in tiles] * passes
    conns = [await connect(conninfo) for _ in range(concurrency)]
    sizes = [0] * len(queries)
    try:
        async def one(w: int, i: int) -> None:
            sql, params = queries[i]
            row = await (await conns[w].execute(sql, params)).fetchone()
            sizes[i] = len(row[0]) if row is not None and row[0] is not None else 0

        await run_workers(len(tiles), concurrency, one, split=True)  # prepares on each conn
        meter, other = CpuMeter(), OtherCpu(conninfo)
        lat, wall = await run_workers(len(queries), concurrency, one)
        cpu = meter.per_op(len(queries))
        cpu["other_cpu_pct"] = other.pct_of_one_core()
    finally:
        for conn in conns:
            await conn.close()
    return {"kind": "floor", "client": "psycopg 3", **summarise(lat, wall), **cpu,
            "concurrency": concurrency, "mean_bytes": round(sum(sizes) / len(sizes))}


# --------------------------------------------------------------------------- HTTP

def wrk_run(base: str, conninfo: str, paths: Path, first: str, concurrency: int,
            args: argparse.Namespace, server_pid: int, token: str | None) -> dict[str, Any]:
    threads = WRK_THREADS[concurrency]
    if args.wrk_warmup > 0:
        _wrk.run(base + first, threads=threads, connections=concurrency,
                 duration_s=args.wrk_warmup, bodies=paths, server_pid=server_pid, token=token)
    other = OtherCpu(conninfo, server_pid)
    out = _wrk.run(base + first, threads=threads, connections=concurrency,
                   duration_s=args.wrk_duration, bodies=paths, server_pid=server_pid,
                   token=token)
    out["other_cpu_pct"] = other.pct_of_one_core()
    out["kind"] = "http_wrk"
    out["check"]["empty_tiles"] = out["check"].pop("responses_with_errors")
    return out


async def check_bodies(base: str, paths: list[str], expected: list[bytes],
                       token: str | None) -> dict[str, Any]:
    """Each tile once over HTTP: status, content type and bytes against the floor's."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    bad_status = differ = 0
    async with httpx.AsyncClient(base_url=base, trust_env=False,
                                 timeout=REQUEST_TIMEOUT_S) as client:
        for path, want in zip(paths, expected, strict=True):
            r = await client.get(path, headers=headers)
            bad_status += r.status_code != 200
            differ += r.content != want
    return {"tiles_checked": len(paths), "non_200": bad_status, "bodies_differing": differ}


async def feature_collection(base: str, n: int, token: str | None) -> dict[str, Any]:
    """GraphQL `layer(name: COMPOUNDS)` over HTTP; "not measured" where the field is missing."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"query": FEATURES}).encode()
    async with httpx.AsyncClient(base_url=base, trust_env=False,
                                 timeout=REQUEST_TIMEOUT_S) as client:
        async def post() -> httpx.Response:
            return await client.post("/graphql", content=body, headers=headers)

        first = await post()
        doc = first.json() if first.headers.get("content-type", "").startswith(
            "application/json") else {}
        errors = doc.get("errors")
        if first.status_code != 200 or errors or not (doc.get("data") or {}).get("layer"):
            reason = errors[0].get("message") if errors else f"HTTP {first.status_code}"
            return {"status": "not measured", "reason": reason, "query": FEATURES}
        layer = doc["data"]["layer"]
        fc = json.loads(layer) if isinstance(layer, str) else layer
        for _ in range(min(5, n)):
            await post()

        async def one(w: int, i: int) -> None:
            r = await post()
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:300]}")

        lat, wall = await run_workers(n, 1, one)
    return {"status": "measured", "query": FEATURES, "client": "httpx", "concurrency": 1,
            "features": len(fc.get("features", [])), "bytes": len(first.content),
            **summarise(lat, wall)}


# --------------------------------------------------------------------------- verdicts

def verdicts(res: dict[str, Any]) -> None:
    """Adds res["targets"]: wrk p50 and p99 within RATIO_MAX x the floor's, per configuration."""
    out = []
    for case in res["cases"]:
        by = {(r["kind"], r["concurrency"]): r for r in case["runs"]}
        for conc in CONCURRENCIES:
            floor, http = by.get(("floor", conc)), by.get(("http_wrk", conc))
            if not floor or not http:
                continue
            for q in ("p50", "p99"):
                limit = RATIO_MAX * floor[f"{q}_ms"]
                measured = http[f"{q}_ms"]
                out.append({"name": f"{case['layer']} z{case['z']} {q}, concurrency {conc}",
                            "measured": f"{measured:.3f} ms",
                            "limit": f"≤ {RATIO_MAX} × {floor[f'{q}_ms']:.3f} = {limit:.3f} ms",
                            "ratio": round(measured / floor[f"{q}_ms"], 2),
                            "pass": measured <= limit})
        check = case.get("check")
        if check:
            wrk_bad = sum(r["check"]["non_2xx"] + r["check"]["socket_errors"]
                          for r in case["runs"] if r["kind"] == "http_wrk")
            out.append({"name": f"{case['layer']} z{case['z']}: httpx bodies = floor bytes, "
                                "wrk non-2xx + socket errors",
                        "measured": f"{check['bodies_differing']} differ, {check['non_200']} "
                                    f"non-200, {wrk_bad} wrk errors",
                        "limit": "0, 0, 0", "ratio": None,
                        "pass": check["bodies_differing"] == check["non_200"] == wrk_bad == 0})
    res["targets"] = out


def markdown(res: dict[str, Any]) -> str:
    c, d = res["configuration"], res["dataset"]
    lines = [
        f"Vector tile benchmark, {res['date']}: {d['tickets']:,} tickets in `{d['database']}`; "
        f"caller {c['role']}; up to {c['tiles']} tiles per layer and zoom, {c['passes']} "
        f"passes for the floor (at least {MIN_FLOOR_SAMPLES} timings), "
        f"wrk {c['wrk_duration_s']:g} s after {c['wrk_warmup_s']:g} s.",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores.",
        "The server keeps place-layer tiles (compounds here) in memory for their max-age "
        "(300 s, web/tilecache.py), so after the first request wrk's GETs of compounds are "
        "answered without PostGIS; ticket tiles depend on the caller and are rendered for "
        "every request.",
        "",
        "| layer | z | tiles | run | client | concurrency | requests | p50 ms | p99 ms | "
        "mean ms | req/s | bytes | other CPU % |",
        "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case in res["cases"]:
        for r in case["runs"]:
            size = r.get("mean_bytes") or (r["wrk"]["result"]["bytes"] // max(1, r["queries"])
                                           if "wrk" in r else None)
            lines.append(
                f"| {case['layer']} | {case['z']} | {len(case['tiles'])} | "
                f"{'SQL floor' if r['kind'] == 'floor' else '**GET .mvt**'} | {r['client']} | "
                f"{r['concurrency']} | {r['queries']:,} | {fmt(r['p50_ms'])} | "
                f"{fmt(r['p99_ms'])} | {fmt(r['mean_ms'])} | {r['throughput_rps']:,.1f} | "
                f"{size if size is not None else 'n/a'} | {fmt(r.get('other_cpu_pct'), 0)} |")
    fc = res.get("feature_collection") or {}
    lines.append("")
    if fc.get("status") == "measured":
        lines.append(f"Full-county compounds FeatureCollection (`{fc['query']}`, httpx, "
                     f"{fc['queries']} requests): p50 {fmt(fc['p50_ms'])} ms, p99 "
                     f"{fmt(fc['p99_ms'])} ms, {fc['features']} features, {fc['bytes']:,} bytes.")
    else:
        lines.append(f"Full-county compounds FeatureCollection: not measured "
                     f"({fc.get('reason', 'skipped')}).")
    lines += ["", "| target | measured | limit | result |", "| --- | ---: | ---: | --- |"]
    for t in res["targets"]:
        lines.append(f"| {t['name']} | {t['measured']} | {t['limit']} | "
                     f"{'PASS' if t['pass'] else 'FAIL'} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main

def dataset(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT current_database(), (SELECT count(*) FROM tickets)").fetchone()
    assert row is not None
    return {"database": row[0], "tickets": row[1]}


async def measure(args: argparse.Namespace, conninfo: str, env: dict[str, str],
                  res: dict[str, Any], tmp: Path) -> None:
    role = Role(args.role)
    token = None
    if role is not Role.PUBLIC:
        token = mint(Settings.from_env(env).jwt_secret, subject="bench", role=role, scopes=[])
    cases: list[dict[str, Any]] = res["cases"]
    for layer in args.layers:
        for z in args.zooms:
            print(f"{layer} z{z}: picking tiles (the warm-up pass)", file=sys.stderr)
            tiles, bodies = await pick_tiles(conninfo, layer, z, role, args.tiles, args.seed)
            if not tiles:
                cases.append({"layer": layer, "z": z, "tiles": [], "runs": [],
                              "note": "no tile with features"})
                continue
            case = {"layer": layer, "z": z, "tiles": tiles, "runs": [],
                    "_bodies": [bodies[xy] for xy in tiles]}
            for conc in CONCURRENCIES:
                print(f"{layer} z{z}: SQL floor, concurrency {conc}", file=sys.stderr)
                case["runs"].append(await floor_run(conninfo, layer, z, role, tiles,
                                                    floor_passes(args, tiles), conc))
            cases.append(case)

    server, sampler = start_server(env, tmp, res)
    pid = server.proc.pid
    try:
        server.wait_ready()
        for case in cases:
            if not case["tiles"]:
                continue
            paths = [path_of(case["layer"], case["z"], xy) for xy in case["tiles"]]
            paths_file = tmp / f"paths-{case['layer']}-{case['z']}.txt"
            paths_file.write_text("\n".join(paths) + "\n", encoding="utf-8")
            for conc in CONCURRENCIES:
                print(f"{case['layer']} z{case['z']}: wrk, concurrency {conc}", file=sys.stderr)
                case["runs"].append(wrk_run(server.base, conninfo, paths_file, paths[0], conc,
                                            args, pid, token))
            case["check"] = await check_bodies(server.base, paths, case.pop("_bodies"), token)
            sampler.mark(f"after_{case['layer']}_z{case['z']}")
        print("full-county compounds FeatureCollection", file=sys.stderr)
        res["feature_collection"] = await feature_collection(server.base, args.fc_requests,
                                                             token)
    finally:
        res["server_rss"] = sampler.stop()
        res["server"]["exit_code"] = server.stop()
        for case in cases:
            case.pop("_bodies", None)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--layers", type=lambda s: s.split(","), default=["tickets", "compounds"],
                    help="comma-separated catalogue layers (default tickets,compounds)")
    ap.add_argument("--zooms", type=lambda s: [int(z) for z in s.split(",")],
                    default=list(ZOOMS), help="comma-separated zooms (default 12,...,16)")
    ap.add_argument("--tiles", type=int, default=16, help="tiles per layer and zoom")
    ap.add_argument("--passes", type=int, default=10, help="floor passes over the tiles")
    ap.add_argument("--role", default="PUBLIC", choices=[r.value for r in Role],
                    help="the caller (tickets depend on it); PUBLIC sends no token")
    ap.add_argument("--fc-requests", type=int, default=30,
                    help="requests of the compounds FeatureCollection")
    ap.add_argument("--seed", type=int, default=20240601, help="seed of the tile order")
    ap.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    ap.add_argument("--wrk-duration", type=float, default=10.0, help="seconds of each wrk run")
    ap.add_argument("--wrk-warmup", type=float, default=2.0,
                    help="seconds of the wrk warm-up run before each timed one (0: none)")
    args = ap.parse_args()
    unknown = sorted(set(args.layers) - set(LAYERS))
    if unknown:
        ap.error(f"unknown layers {unknown}; layers are {', '.join(LAYERS)}")
    if not all(0 <= z <= 22 for z in args.zooms):
        ap.error("--zooms must lie in 0..22")
    if not 1 <= args.tiles <= 1000 or not 1 <= args.passes <= 100:
        ap.error("--tiles must be 1..1000 and --passes 1..100")
    if not 1 <= args.wrk_duration <= 600 or not 0 <= args.wrk_warmup <= 600:
        ap.error("--wrk-duration must be 1..600 s and --wrk-warmup 0..600 s")

    env, settings, conninfo = bench_target(BENCH_DATABASE)
    res: dict[str, Any] = {
        **result_head("tiles", conninfo, dataset(conninfo), expect_tickets=1_000_000),
        "configuration": {
            "layers": args.layers, "zooms": args.zooms, "tiles": args.tiles,
            "passes": args.passes, "role": args.role, "seed": args.seed,
            "concurrency": list(CONCURRENCIES), "wrk_duration_s": args.wrk_duration,
            "wrk_warmup_s": args.wrk_warmup, "wrk_script": "bench/wrk_cycle.lua",
            "ratio_max": RATIO_MAX, "server_pool_size": settings.pool_size,
        },
        "cases": [],
    }

    args.out.mkdir(parents=True, exist_ok=True)
    run_with_server_log("redgrid-bench-tiles-", res, lambda tmp: asyncio.run(
        measure(args, conninfo, env, res, tmp)))
    verdicts(res)
    table = markdown(res)
    (args.out / "tiles.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
    (args.out / "tiles.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
