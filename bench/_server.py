"""The `redgrid serve` subprocess of the benchmark and what is measured of it (CPU, RSS)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

CHECKOUT = Path(__file__).resolve().parent.parent


def process_cpu_s(pid: int, reaped: bool = False) -> float | None:
    """User + system CPU seconds of a process, from /proc/PID/stat; with `reaped`, also those of
    its children that have ended and been waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a server's supervisor, its workers and their helpers)."""
    found = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += process_tree(int(child))
    return found


def rss_kb(pid: int) -> int | None:
    """VmRSS of one process in kB (None once it has ended)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _role(pid: int) -> str:
    """What a process of a `redgrid serve` tree is, from its command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return "ended"
    for marker, role in (("resource_tracker", "resource tracker"),
                         ("multiprocessing.spawn", "worker"), (" serve", "supervisor")):
        if marker in command:
            return role
    return Path(command.split(" ", 1)[0]).name


class RssSampler:
    """VmRSS of one process, or with `tree` of it and all its descendants together, read from
    /proc every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.1, tree: bool = False) -> None:
        self.pid, self.interval, self.tree = pid, interval, tree
        self.samples: list[tuple[float, int]] = []
        self.marks: dict[str, int] = {}
        self.at_max: dict[int, int] = {}  # each process's kB in the largest sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def read_kb(self) -> int | None:
        if rss_kb(self.pid) is None:
            return None
        each = {pid: rss_kb(pid) or 0 for pid in (process_tree(self.pid) if self.tree
                                                   else [self.pid])}
        total = sum(each.values())
        if total > max((kb for _, kb in self.samples), default=0):
            self.at_max = each
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            kb = self.read_kb()
            if kb is None:
                return
            self.samples.append((time.monotonic() - self._t0, kb))

    def start(self) -> None:
        self._thread.start()

    def mark(self, label: str) -> None:
        kb = self.read_kb()
        if kb is not None:
            self.marks[label] = kb

    def stop(self) -> dict[str, Any]:
        final = self.read_kb()
        self._stop.set()
        self._thread.join(timeout=5)
        if final is not None:
            self.samples.append((time.monotonic() - self._t0, final))
        kbs = [kb for _, kb in self.samples]
        return {
            "interval_s": self.interval, "samples": len(kbs),
            "max_mb": round(max(kbs) / 1024, 1) if kbs else None,
            "final_mb": round(kbs[-1] / 1024, 1) if kbs else None,
            "marks_mb": {k: round(v / 1024, 1) for k, v in self.marks.items()},
            **({"processes_at_max": [{"pid": pid, "role": _role(pid), "mb": round(kb / 1024, 1)}
                                     for pid, kb in self.at_max.items()]} if self.tree else {}),
        }


def development_env() -> dict[str, str]:
    """The environment for the benchmark and its server: a development box (the server signs
    its own tokens and has no rate limits; unset, REDGRID_ENV means production)."""
    return {**os.environ, "REDGRID_ENV": "development"}


def bench_env(database: str) -> dict[str, str]:
    """The development environment on `database` (unless DATABASE_URL or REDGRID_DATABASE
    names another), without the escalation job and the webhook worker, which would change the
    data and load the machine."""
    env = development_env()
    if not env.get("DATABASE_URL") and not env.get("REDGRID_DATABASE"):
        env["REDGRID_DATABASE"] = database
    env.update(REDGRID_JOB_INTERVAL="0", REDGRID_WEBHOOK_INTERVAL="0")
    return env


def bench_target(database: str) -> tuple[dict[str, str], Any, str]:
    """`bench_env(database)`, the settings it makes and the database's conninfo."""
    from _db import conninfo

    from web.settings import Settings

    env = bench_env(database)
    settings = Settings.from_env(env)
    return env, settings, conninfo(settings)


def stop_process(proc: subprocess.Popen[Any], sig: int) -> int | None:
    """Ends a server this benchmark started, by its PID: `sig`, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`redgrid serve` on a free loopback port, stopped by PID whatever happens."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        exe = Path(sys.executable).parent / "redgrid"
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=CHECKOUT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.base, trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redgrid serve exited with {self.proc.returncode}; "
                                       f"see {self.log.name}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"redgrid serve not ready after {timeout_s} s; see {self.log.name}")

    def stop(self) -> int | None:
        code = stop_process(self.proc, signal.SIGINT)  # uvicorn's graceful shutdown
        self.log.close()
        return code


def cpu_activity(window_s: float = 1.0, min_pct: float = 2.0) -> dict[str, Any]:
    """How busy the machine is over `window_s`: total CPU use (% of all cores, /proc/stat) and
    the processes using at least `min_pct` % of one core (this one excluded)."""

    def snapshot() -> tuple[list[int], dict[int, float]]:
        total = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        procs = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                cpu = process_cpu_s(int(entry.name))
                if cpu is not None:
                    procs[int(entry.name)] = cpu
        return total, procs

    (t0, p0), start = snapshot(), time.monotonic()
    time.sleep(window_s)
    (t1, p1), elapsed = snapshot(), time.monotonic() - start
    delta = [b - a for a, b in zip(t0, t1, strict=True)]
    idle = delta[3] + delta[4]  # idle + iowait
    busy = []
    for pid, cpu in p1.items():
        pct = (cpu - p0.get(pid, cpu)) / elapsed * 100
        if pct >= min_pct:
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                comm = "?"
            busy.append({"pid": pid, "comm": comm, "cpu_pct_of_one_core": round(pct)})
    return {"window_s": window_s,
            "cpu_busy_pct_all_cores": round(100 * (1 - idle / max(1, sum(delta))), 1),
            "busy_processes": sorted(busy, key=lambda b: -b["cpu_pct_of_one_core"])}


class OtherCpu:
    """CPU used during a timed run by anything but the benchmark: the machine's user + system
    time (/proc/stat) minus that of this process, its children (wrk), the server and the
    PostgreSQL processes of the benchmark's database (its backends, the postmaster and the
    background processes) and the backends that ended meanwhile (the postmaster's reaped
    children: the floor's connections, which close before the end of the run; also any
    autovacuum worker that ended, which is the cluster's own work). Tells whether a run shared
    the machine. Kernel time charged to no process counts as other, so a quiet machine shows
    a few %."""

    def __init__(self, conninfo: str, server_pid: int | None = None) -> None:
        self.conninfo, self.server_pid = conninfo, server_pid
        self.postmaster: int | None = None
        pids = self._pg_pids()
        self.t0 = time.monotonic()
        self.machine0, self.ours0 = self._machine_s(), self._ours(pids)

    def _pg_pids(self) -> set[int]:
        """PostgreSQL processes of this database (and the cluster's background ones)."""
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname IS NULL "
                                "OR datname = current_database()").fetchall()
            own = conn.execute("SELECT pg_backend_pid()").fetchone()
        pids = {r[0] for r in rows}
        if own:  # the postmaster: the parent of any backend
            try:
                stat = Path(f"/proc/{own[0]}/stat").read_text()
                self.postmaster = int(stat.rsplit(")", 1)[1].split()[1])
                pids.add(self.postmaster)
            except OSError:
                pass  # a server on another machine: its CPU is not on this one
            pids.discard(own[0])
        if self.server_pid:
            pids.add(self.server_pid)
        return pids

    @staticmethod
    def _machine_s() -> float:
        cols = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        return (int(cols[0]) + int(cols[1]) + int(cols[2])) / os.sysconf("SC_CLK_TCK")

    def _ours(self, pids: set[int]) -> dict[int, float]:
        """CPU seconds per process: pid 0 stands for this process and its waited children; the
        postmaster's include its ended children."""
        ru_self = resource.getrusage(resource.RUSAGE_SELF)
        ru_children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {0: ru_self.ru_utime + ru_self.ru_stime + ru_children.ru_utime
               + ru_children.ru_stime}
        for pid in pids:
            cpu = process_cpu_s(pid, reaped=pid == self.postmaster)
            if cpu is not None:
                out[pid] = cpu
        return out

    def pct_of_one_core(self) -> float:
        """Other processes' CPU since construction, in % of one core. Processes of ours that
        started meanwhile (e.g. new pool connections) count in full."""
        pids = self._pg_pids() | set(self.ours0) - {0}
        machine1, ours1 = self._machine_s(), self._ours(pids)
        elapsed = time.monotonic() - self.t0
        ours = sum(cpu - self.ours0.get(pid, 0.0) for pid, cpu in ours1.items())
        other = (machine1 - self.machine0) - ours
        return round(max(0.0, other) / elapsed * 100, 1)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def end_on_signals() -> None:
    """SIGTERM and SIGHUP end the run through its finally blocks (servers stopped by PID,
    scratch databases dropped)."""
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)


def run_with_server_log(prefix: str, res: dict[str, Any], run: Callable[[Path], Any]) -> None:
    """Runs `run(folder)` in a temporary folder (where the server writes server.log), with
    SIGTERM/SIGHUP ending the run through its finally blocks (the server is stopped by PID);
    the log's last 20 lines go into `res["server_log_tail"]`, and the machine's load and
    activity at the end into `res["machine"]`."""
    end_on_signals()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        log_path = Path(tmp) / "server.log"
        try:
            run(Path(tmp))
        finally:
            if log_path.exists():
                res["server_log_tail"] = log_path.read_text(
                    encoding="utf-8", errors="replace").splitlines()[-20:]
    res["machine"]["loadavg_end"] = os.getloadavg()
    res["machine"]["activity_end"] = cpu_activity()


def start_server(env: dict[str, str], folder: Path, res: dict[str, Any]) -> tuple[Server, Any]:
    """Starts `redgrid serve` (its log in folder/server.log) and a sampler of its resident
    memory, noting its pid and address in `res["server"]`; the caller waits until it answers
    (`server.wait_ready()`) and stops both."""
    print("starting redgrid serve", file=sys.stderr)
    server = Server(env, folder / "server.log")
    res["server"] = {"pid": server.proc.pid, "base_url": server.base}
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    return server, sampler
