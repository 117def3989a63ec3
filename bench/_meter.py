"""CPU accounting of a benchmark run: the benchmark process and its children (wrk), the
server, the PostgreSQL processes of the database, everything else, and the hypervisor's steal."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any

import psycopg
from _db import one
from _server import OtherCpu, process_cpu_s


def pg_pids(conn: psycopg.Connection[Any]) -> set[int]:
    """Backends of this database, the cluster's background processes and the postmaster."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname IS NULL "
                        "OR datname = current_database()").fetchall()
    own = one(conn.execute("SELECT pg_backend_pid()"))[0]
    pids = {r[0] for r in rows} - {own}
    try:
        stat = Path(f"/proc/{own}/stat").read_text()
        pids.add(int(stat.rsplit(")", 1)[1].split()[1]))  # the postmaster
    except OSError:
        pass
    return pids


class Meter:
    """CPU seconds of a run: this process (+ waited children: wrk), the server, PostgreSQL
    (the processes of this database, new ones counted in full), and everything else."""

    def __init__(self, conninfo: str, server_pid: int | None = None) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.server_pid = server_pid
        self.pids0 = pg_pids(self.conn)
        self.pg0 = {p: process_cpu_s(p) or 0.0 for p in self.pids0}
        self.server0 = process_cpu_s(server_pid) if server_pid else None
        self.other = OtherCpu(conninfo, server_pid)
        self.steal0 = self._steal_s()
        self.self0 = self._self_s()
        self.t0 = time.monotonic()

    @staticmethod
    def _self_s() -> tuple[float, float]:
        s = resource.getrusage(resource.RUSAGE_SELF)
        c = resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime

    @staticmethod
    def _steal_s() -> float:
        """CPU time the hypervisor gave to others while this VM wanted it (/proc/stat)."""
        cols = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(cols[8]) / os.sysconf("SC_CLK_TCK") if len(cols) > 8 else 0.0

    def stop(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        steal = self._steal_s() - self.steal0
        own, children = self._self_s()
        pids = pg_pids(self.conn) | self.pids0
        pg = sum((process_cpu_s(p) or self.pg0.get(p, 0.0)) - self.pg0.get(p, 0.0) for p in pids)
        server = None
        if self.server_pid and self.server0 is not None:
            now = process_cpu_s(self.server_pid)
            server = None if now is None else now - self.server0
        other = self.other.pct_of_one_core()
        self.conn.close()
        return {"elapsed_s": elapsed, "bench_process_s": own - self.self0[0],
                "children_s": children - self.self0[1], "server_s": server, "postgres_s": pg,
                "other_cpu_pct": other, "steal_cpu_pct": round(steal / elapsed * 100, 1)}


def per_ticket(cpu: dict[str, Any], n: int, wall_s: float, client: str) -> dict[str, Any]:
    client_s = cpu["children_s"] if client == "wrk" else cpu["bench_process_s"]

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000 / n, 3)

    def pct(v: float | None) -> float | None:
        return None if v is None else round(v / wall_s * 100, 1)

    return {"client_cpu_ms_per_ticket": ms(client_s),
            "server_cpu_ms_per_ticket": ms(cpu["server_s"]),
            "postgres_cpu_ms_per_ticket": ms(cpu["postgres_s"]),
            "client_cpu_pct_of_one_core": pct(client_s),
            "server_cpu_pct_of_one_core": pct(cpu["server_s"]),
            "postgres_cpu_pct_of_one_core": pct(cpu["postgres_s"]),
            "other_cpu_pct": cpu["other_cpu_pct"], "steal_cpu_pct": cpu["steal_cpu_pct"]}
