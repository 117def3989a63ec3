"""The HTTP side of the createTicket benchmark: wrk posts each pre-built body exactly once
(bench/create_wrk.lua) to a running `redgrid serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import _wrk
from _meter import Meter, per_ticket
from _server import Server

LUA = Path(__file__).resolve().parent / "create_wrk.lua"
MARK = "CREATE_WRK_RESULT "
WRK_TIMEOUT_S = 10
WRK_THREADS = {1: 1, 16: 2}



def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def wrk_file(url: str, bodies: Path, token: str, concurrency: int, max_s: float,
             server: subprocess.Popen[Any] | None = None) -> dict[str, Any]:
    """Posts every body of the file once; returns the script's result line (parsed).

    wrk's main thread sleeps for -d whatever its threads do; once every worker thread has
    ended (each stops when its share of the bodies is answered), it is interrupted (SIGINT,
    by PID), which makes it print its summary at once; so it is too when the server exits."""
    threads = WRK_THREADS[concurrency]
    cmd = [_wrk.executable(), f"-t{threads}", f"-c{concurrency}", f"-d{int(max_s)}s",
           "--latency", f"--timeout={WRK_TIMEOUT_S}s", "-s", str(LUA), url, "--",
           str(threads), str(bodies), token]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        seen_workers = False
        deadline = time.monotonic() + max_s + 30
        while proc.poll() is None and time.monotonic() < deadline:
            n = _threads(proc.pid)
            if n > 1:
                seen_workers = True
            elif seen_workers and n == 1:
                proc.send_signal(signal.SIGINT)
                break
            if server is not None and server.poll() is not None:
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    line = next((x for x in out.splitlines() if x.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd[:-1])} TOKEN\n"
                           f"{out[-2000:]}{err[-2000:]}")
    return json.loads(line[len(MARK):])


def http_run(server: Server, conninfo: str, bodies: Path, token: str, concurrency: int,
             n: int, max_s: float) -> dict[str, Any]:
    meter = Meter(conninfo, server.proc.pid)
    raw = wrk_file(server.base + "/graphql", bodies, token, concurrency, max_s, server.proc)
    cpu = meter.stop()
    wall_s = raw["wall_us"] / 1e6
    created = raw["created"]
    lat = raw["latency_us"]
    errors = raw["errors"]
    out: dict[str, Any] = {
        "kind": "http", "client": "wrk", "concurrency": concurrency, "connections": concurrency,
        "wrk_threads": WRK_THREADS[concurrency], "tickets": n, "created": created,
        "wall_s": round(wall_s, 3),
        "tickets_per_s": round(created / wall_s, 1) if wall_s > 0 else 0.0,
        **{f"{k}_ms": round(lat[k] / 1000, 3) for k in ("p50", "p90", "p99", "mean", "min",
                                                          "max")},
    }
    out.update(per_ticket(cpu, max(1, created), wall_s if wall_s > 0 else 1.0, "wrk"))
    out["check"] = {"bodies": n, "sent": raw["sent"], "answered": raw["answered"],
                    "created": created, "non_2xx": raw["non2xx"],
                    "answers_without_ticket": raw["not_created"],
                    "socket_errors": errors["connect"] + errors["read"] + errors["write"],
                    "timeouts": errors["timeout"], "wrk_requests": raw["wrk_requests"],
                    "first_bad_answer": raw["first_bad"] or None}
    return out
