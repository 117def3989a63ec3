"""What a benchmark ran on: the machine and the versions of what it measured."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import _wrk
import psycopg
from _server import cpu_activity


def machine() -> dict[str, Any]:
    """The processor, cores, memory and kernel, and how busy the machine was at the start."""
    cpu, mem_kb = "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                      if x.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "loadavg_start": os.getloadavg(),
            "activity_start": cpu_activity()}


def versions(conninfo: str) -> dict[str, Any]:
    """Python, wrk, PostgreSQL and PostGIS (with the durability settings), and the packages on
    the request path."""
    out: dict[str, Any] = {"python": platform.python_version(), "wrk": _wrk.version()}
    with psycopg.connect(conninfo) as conn:
        for key, sql in (("postgresql", "SHOW server_version"),
                         ("postgis", "SELECT postgis_lib_version()"),
                         ("geos", "SELECT postgis_geos_version()"),
                         ("synchronous_commit", "SHOW synchronous_commit"),
                         ("fsync", "SHOW fsync")):
            row = conn.execute(sql).fetchone()
            out[key] = row[0] if row else None
    for dist in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "h11", "uvloop",
                 "httptools", "orjson", "sqlalchemy", "psycopg", "psycopg-binary", "psycopg-pool",
                 "pyjwt", "httpx"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def result_head(benchmark: str, conninfo: str, dataset: dict[str, Any],
                expect_tickets: int = 0) -> dict[str, Any]:
    """The fields every result file starts with: what ran, when, on which machine, with which
    versions, on which data (with a warning when it holds fewer than `expect_tickets`)."""
    import sys
    from datetime import UTC, datetime

    if dataset.get("tickets", 0) < expect_tickets:
        print(f"warning: only {dataset['tickets']:,} tickets (run `make bench` to seed "
              f"{expect_tickets:,})", file=sys.stderr)

    return {"benchmark": benchmark, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(), "versions": versions(conninfo), "dataset": dataset}
