"""`redgrid serve`: uvicorn with one or more worker processes and a graceful shutdown.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, lets the requests in flight
finish for up to `shutdown_timeout_s` (then cancels what is left), closes websockets with
code 1012 (service restart: a client reconnects, to another worker or server), and then runs
the app's shutdown (background workers stopped, pools closed).

With `--workers N` uvicorn starts N processes on the same socket, each with its own pools,
LISTEN connection (so subscriptions are delivered whichever worker a client is on), ticket
job and webhook worker (both safe to run several times: see web/scheduler.py and the
`SKIP LOCKED` claim in db/queries/outbox.py). The rate limiter's buckets are shared through
files in a folder `serve` makes for its workers (web/shared_buckets.py), so a caller has one
budget whichever worker answers. What stays per process: the tile cache and the pools' gauges
in `/metrics`. Request counters are shared through a Prometheus multiprocess folder, so any
worker answers `/metrics` for all of them. Unset, REDGRID_WORKERS is the number of cores
(1 in development).
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile

import uvicorn
from starlette.applications import Starlette

from web.logs import configure
from web.settings import Settings
from web.shared_buckets import SHARED_ENV

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def app_from_env() -> Starlette:
    """The app of one worker process: settings read and logging configured here, since
    each worker is a fresh interpreter."""
    from web.app import create_app

    settings = Settings.from_env()
    configure(settings.log_format == "json", settings.log_level, settings.access_log)
    app = create_app(settings)
    # What the worker made so far (its modules, the schema) lives as long as the process:
    # moved out of the collector's generations, a full collection no longer walks it. It took
    # about 100 ms, every second or so under load: 16 concurrent map requests had a p99 of
    # 110-117 ms, and of 11-13 ms once frozen.
    gc.collect()
    gc.freeze()
    return app


class WorkerStartError(Exception):
    """A worker's app cannot be made: the error it ended with (`summary`, its last line) and
    the lines before it (`detail`), for `serve` to report."""

    def __init__(self, summary: str, detail: str) -> None:
        super().__init__(summary)
        self.summary, self.detail = summary, detail


# A worker's start, made in a throwaway process (see `preflight`).
_PREFLIGHT = "from web.serving import app_from_env; app_from_env()"


def preflight() -> None:
    """Makes one worker's app in a throwaway process before uvicorn starts the workers.

    The supervising process loads none of the app (so that it stays small), and uvicorn
    restarts a worker that dies at start for as long as it runs: a broken install or a setting
    only the app checks would otherwise never end `serve`. Costs the start-up of one more
    process, once."""
    with tempfile.TemporaryDirectory(prefix="redgrid-preflight-") as metrics:
        # Its metrics files apart: /metrics sums the workers' folder, and this is no worker.
        done = subprocess.run([sys.executable, "-c", _PREFLIGHT], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL,
                              env={**os.environ, MULTIPROC_ENV: metrics})
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise WorkerStartError(lines[-1], "\n".join(lines[-30:]))


def worker_pool_size(pool_size: int, workers: int) -> int:
    """Each worker's share of REDGRID_POOL_SIZE, the server's budget of connections per pool:
    N workers open about as many connections as one did (at least 2 per pool each)."""
    return max(2, pool_size // workers)


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serves until SIGTERM or Ctrl-C, then drains as described above."""
    configure(settings.log_format == "json", settings.log_level, settings.access_log)
    made: list[str] = []
    if workers > 1:
        os.environ[SHARED_ENV] = tempfile.mkdtemp(prefix="redgrid-shared-")
        made.append(os.environ[SHARED_ENV])
        # Read by each worker's settings: the pools share the server's budget.
        os.environ["REDGRID_POOL_SIZE"] = str(worker_pool_size(settings.pool_size, workers))
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        # Set before any worker imports prometheus_client: it picks its storage on import.
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="redgrid-metrics-")
        made.append(os.environ[MULTIPROC_ENV])
    try:
        if workers > 1:  # one process: its own start fails `serve` as it is
            preflight()
        # log_config=None: uvicorn's lines go through RedGrid's handlers (web/logs.py).
        # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from loopback;
        # the app reads it only from REDGRID_TRUSTED_PROXIES (web/clients.py).
        # server_header=False: no `server: uvicorn` on every answer (it tells a stranger what
        # runs here, and costs a header to build and check per response).
        uvicorn.run("web.serving:app_from_env", factory=True, host=host, port=port,
                    workers=workers, timeout_graceful_shutdown=settings.shutdown_timeout_s,
                    log_config=None, access_log=False, loop="uvloop", http="httptools",
                    proxy_headers=False, server_header=False)
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
