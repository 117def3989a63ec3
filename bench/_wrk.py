"""wrk runs of the benchmark: the HTTP load generator of the primary HTTP rows.

wrk (C, one epoll loop per thread) costs a few microseconds of CPU per request, so its numbers
are the server's, not the client's. bench/wrk_cycle.lua posts pre-built bodies (one per line of
a file written by write_bodies) in the order of the point list and prints one machine-readable
result line, parsed here.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _server import process_cpu_s

SCRIPT = Path(__file__).resolve().parent / "wrk_cycle.lua"
MARK = "WRK_RESULT "
# wrk sizes its latency histogram by the timeout (8 bytes per microsecond of it).
TIMEOUT_S = 5


def executable() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed (scripts/bench.sh installs it: apt-get install wrk)")
    return path


def version() -> str:
    out = subprocess.run([executable(), "--version"], capture_output=True, text=True,
                         check=False, timeout=10)
    return (out.stdout + out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def write_bodies(path: Path, bodies: Iterable[bytes]) -> Path:
    """One request body per line: compact JSON holds no raw newline."""
    with open(path, "wb") as f:
        for body in bodies:
            if b"\n" in body or b"\r" in body:
                raise ValueError("a request body contains a line break")
            f.write(body + b"\n")
    return path


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(url: str, *, threads: int, connections: int, duration_s: float,
        bodies: Path | None = None, server_pid: int | None = None,
        token: str | None = None) -> dict[str, Any]:
    """One wrk run; latencies in ms, CPU per request of wrk itself and of the server."""
    cmd = [executable(), f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--latency",
           f"--timeout={TIMEOUT_S}s", "-s", str(SCRIPT), url, "--", str(threads)]
    if bodies is not None:
        cmd.append(str(bodies))
        if token:
            cmd.append(token)
    client0 = _children_cpu_s()
    server0 = process_cpu_s(server_pid) if server_pid else None
    # subprocess.run kills wrk (by its PID) if anything interrupts the wait.
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          timeout=duration_s + 60)
    server1 = process_cpu_s(server_pid) if server_pid else None
    client_cpu_s = _children_cpu_s() - client0
    line = next((x for x in proc.stdout.splitlines() if x.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    raw = json.loads(line[len(MARK):])
    n = raw["requests"]
    if n == 0:
        raise RuntimeError(f"wrk completed no request: {proc.stdout[-2000:]}")
    lat = raw["latency_us"]
    wall_s = raw["duration_us"] / 1e6
    errors = raw["errors"]
    out: dict[str, Any] = {
        "client": "wrk",
        "queries": n,
        **{f"{k}_ms": round(lat[k] / 1000, 3) for k in ("p50", "p90", "p99", "mean", "min", "max")},
        "wall_s": round(wall_s, 3), "throughput_rps": round(n / wall_s, 1),
        "concurrency": connections, "connections": connections, "wrk_threads": threads,
        "client_cpu_ms_per_req": round(client_cpu_s * 1000 / n, 3),
        "server_cpu_ms_per_req": (round((server1 - server0) * 1000 / n, 3)
                                  if server0 is not None and server1 is not None else None),
        "check": {
            "responses_checked": raw["responses_checked"],
            "non_2xx": raw["non2xx"],
            "socket_errors": errors["connect"] + errors["read"] + errors["write"]
            + errors["timeout"],
            "responses_with_errors": raw["graphql_errors"] if bodies is not None else 0,
        },
        "wrk": {"command": " ".join(cmd if bodies is None else [*cmd[:-1], "BODIES"]),
                "result": raw, "output": proc.stdout.replace(line, "").strip()},
    }
    return out


def clean(check: dict[str, Any]) -> bool:
    return (check["non_2xx"] == 0 and check["socket_errors"] == 0
            and check["responses_with_errors"] == 0 and check["responses_checked"] > 0)
