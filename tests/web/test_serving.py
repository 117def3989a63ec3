"""`redgrid serve` as operators run it, in its own process: SIGTERM lets a request in flight
finish and closes websockets with 1012; `--workers 2` runs two processes that both serve and
count their requests in one `/metrics`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import REDGRID, START_S, _free_port
from tests.conftest import log_lines as _lines
from tests.conftest import serve_process as server
from web.settings import Settings
from web.vapid import new_key_pair

ZONES = {"query": "{ zones { code } }"}


def _lock_waiters(db: psycopg.Connection) -> int:
    row = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND wait_event_type = 'Lock'").fetchone()
    assert row is not None
    return int(row[0])


def test_sigterm_drains_the_request_in_flight_and_closes_websockets(
        settings: Settings, conninfo: str, db: psycopg.Connection, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with server(settings, log) as (process, url), psycopg.connect(conninfo) as locker:
        socket = connect(url.replace("http", "ws") + "/graphql",
                         subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        socket.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
        assert orjson.loads(socket.recv(timeout=10))["type"] == "connection_ack"
        # The request in flight: its query waits for a lock this test holds.
        locker.execute("LOCK TABLE zones IN ACCESS EXCLUSIVE MODE")
        answers: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: answers.append(httpx.post(f"{url}/graphql", json=ZONES, timeout=30)))
        request.start()
        deadline = time.monotonic() + 3
        while _lock_waiters(db) == 0:
            assert time.monotonic() < deadline, "the request never reached the database"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # no new connections while draining
            httpx.get(f"{url}/healthz", timeout=2)
        assert request.is_alive() and process.poll() is None
        locker.commit()  # the query goes on; its answer must still arrive
        request.join(timeout=10)
        # uvicorn ends by raising the signal it caught again, as a service manager expects.
        assert process.wait(timeout=20) == -signal.SIGTERM
    assert answers and answers[0].status_code == 200
    assert len(answers[0].json()["data"]["zones"]) == 5
    messages = [line["message"] for line in _lines(log)]
    assert "Waiting for connections to close. (CTRL+C to force quit)" in messages


def _answered_by(log: Path, path: str) -> set[int]:
    return {line["pid"] for line in _lines(log)
            if line["logger"] == "redgrid.access" and f" {path} " in line["message"]}


def _started_workers(log: Path, count: int) -> set[int]:
    """The workers' process ids, once `count` of them have finished starting (readiness of
    the first says nothing of the others)."""
    deadline = time.monotonic() + START_S
    while True:
        started = {line["pid"] for line in _lines(log)
                   if line["message"] == "Application startup complete."}
        if len(started) >= count:
            return started
        assert time.monotonic() < deadline, f"{len(started)} of {count} workers started"
        time.sleep(0.2)


@contextmanager
def _paused(pid: int) -> Iterator[None]:
    """A worker stopped (SIGSTOP) for a while: the connections made meanwhile can only be
    accepted by the others, so a test reaches every worker whatever the kernel prefers."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _through_both(log: Path, path: str, send: Any, batch: int) -> int:
    """Sends `batch` requests on new connections, then, while the worker that answered them
    is paused, `batch` more: both workers answer. Returns how many were sent."""
    for _ in range(batch):
        send()
    answered = _answered_by(log, path)
    assert answered, "no access line for the first requests"
    if len(answered) < 2:
        with _paused(answered.pop()):
            for _ in range(batch):
                send()
        return 2 * batch
    return batch


def test_two_workers_both_serve_and_share_their_counts(settings: Settings,
                                                       tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with server(settings, log, "--workers", "2") as (process, url):
        workers = _started_workers(log, 2)

        def send() -> None:
            answer = httpx.get(f"{url}/healthz", timeout=5)
            assert answer.status_code == 200
            assert "server" not in answer.headers  # what runs here is not told to strangers
            assert "date" in answer.headers

        sent = _through_both(log, "/healthz", send, 10)
        assert _answered_by(log, "/healthz") == workers
        assert process.pid not in workers  # the supervisor serves nothing itself
        body = httpx.get(f"{url}/metrics", timeout=5).text
        counted = sum(sample.value for family in text_string_to_metric_families(body)
                      for sample in family.samples
                      if sample.name == "redgrid_http_requests_total"
                      and sample.labels["route"] == "/healthz")
        assert counted == sent  # from both workers, whichever answered the scrape
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_workers_draw_on_one_budget_per_caller(settings: Settings, tmp_path: Path) -> None:
    """Two workers, a caller allowed a burst of 6 (and next to nothing after): 6 requests
    answered in all, whichever worker each new connection reached, the rest 429."""
    log = tmp_path / "serve.log"
    with server(settings, log, "--workers", "2", REDGRID_RATE_LIMIT="0.001",
                REDGRID_RATE_BURST="6") as (process, url):
        workers = _started_workers(log, 2)
        statuses: list[int] = []

        def send() -> None:
            statuses.append(httpx.post(f"{url}/graphql", json={"query": "{ __typename }"},
                                       timeout=5).status_code)

        _through_both(log, "/graphql", send, 10)
        assert _answered_by(log, "/graphql") == workers
        assert statuses.count(200) == 6 and statuses.count(429) == len(statuses) - 6
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def _statuses_rotating_forwarded_for(url: str, count: int) -> list[int]:
    return [httpx.post(f"{url}/graphql", json={"query": "{ __typename }"}, timeout=5,
                       headers={"X-Forwarded-For": f"203.0.113.{n + 1}"}).status_code
            for n in range(count)]


def test_forwarded_for_from_loopback_is_not_believed_without_trusted_proxies(
        settings: Settings, tmp_path: Path) -> None:
    """A caller on loopback allowed a burst of 3 who names a new client address in each
    request's X-Forwarded-For still draws on one budget: the header is believed only from
    REDGRID_TRUSTED_PROXIES, which is unset here (uvicorn's own default trusts 127.0.0.1)."""
    with server(settings, tmp_path / "serve.log", REDGRID_RATE_LIMIT="0.001",
                REDGRID_RATE_BURST="3", REDGRID_TRUSTED_PROXIES="") as (process, url):
        statuses = _statuses_rotating_forwarded_for(url, 6)
        assert statuses == [200] * 3 + [429] * 3
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_forwarded_for_from_a_trusted_proxy_names_the_client(settings: Settings,
                                                             tmp_path: Path) -> None:
    """With loopback listed as a trusted proxy, each forwarded client has a budget of its own
    (three clients, two requests each, a burst of 2), and a client's third request is 429."""
    with server(settings, tmp_path / "serve.log", REDGRID_RATE_LIMIT="0.001",
                REDGRID_RATE_BURST="2", REDGRID_TRUSTED_PROXIES="127.0.0.1") as (process, url):
        statuses = [s for _ in range(2) for s in _statuses_rotating_forwarded_for(url, 3)]
        assert statuses == [200] * 6
        assert _statuses_rotating_forwarded_for(url, 1) == [429]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)


def test_shutdown_does_not_wait_past_its_timeout(settings: Settings, conninfo: str,
                                                 db: psycopg.Connection, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDGRID_SHUTDOWN_TIMEOUT", "1")
    with server(settings, tmp_path / "serve.log") as (process, url), \
            psycopg.connect(conninfo) as locker:
        locker.execute("LOCK TABLE zones IN ACCESS EXCLUSIVE MODE")
        failures: list[Exception | str] = []

        def stuck() -> None:
            try:
                answer = httpx.post(f"{url}/graphql", json=ZONES, timeout=30)
            except httpx.TransportError as exc:
                failures.append(exc)
                return
            # Cut off while the pools close: a retryable UNAVAILABLE, never data.
            errors = answer.json().get("errors") or [{}]
            failures.append(errors[0].get("extensions", {}).get("code", "no error"))

        request = threading.Thread(target=stuck)
        request.start()
        deadline = time.monotonic() + 3
        while _lock_waiters(db) == 0:
            assert time.monotonic() < deadline, "the request never reached the database"
            time.sleep(0.02)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)  # while the lock is still held
        assert time.monotonic() - started < 4
        request.join(timeout=10)
        # The request was cut off, not left hanging nor answered with data.
        assert failures and failures[0] != "no error", failures
        assert not isinstance(failures[0], str) or failures[0] == "UNAVAILABLE", failures
        locker.rollback()


def test_workers_share_the_servers_pool_budget() -> None:
    from web.serving import worker_pool_size

    assert worker_pool_size(20, 1) == 20
    assert worker_pool_size(20, 2) == 10 and worker_pool_size(20, 3) == 6
    assert worker_pool_size(4, 8) == 2  # never below 2 per pool


def _python(settings: Settings, code: str, **extra_env: str) -> str:
    """What `python -c code` prints, run in this checkout on the test database as a server
    process runs (development)."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDGRID_ENV": "development",
           **extra_env}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_worker_freezes_what_it_made_at_start(settings: Settings) -> None:
    """A worker's start-up objects leave the collector's generations (gc.freeze), so a full
    collection under load does not walk the schema and the modules again."""
    out = _python(settings, "import gc; from web.serving import app_from_env; "
                            "before = gc.get_freeze_count(); app_from_env(); "
                            "print(before, gc.get_freeze_count())")
    before, after = map(int, out.split()[-2:])
    assert before == 0 and after > 100_000, out


# What the server's processes must not load at start: the app's libraries in the supervisor
# (it only starts and watches the workers), the tools' in a worker (migrations, seeding,
# workbooks, photos load theirs when used; Web Push delivery only where push is on). Each
# costs RSS in every process.
APP_LIBRARIES = {"strawberry", "graphql", "psycopg", "numpy", "shapely", "pyproj", "h3", "jwt",
                 "httpx", "prometheus_client"}
TOOL_LIBRARIES = {"sqlalchemy", "alembic", "geoalchemy2", "mako", "openpyxl", "PIL",
                  "pywebpush", "aiohttp", "requests"}
LOADED = "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"


def _loaded(settings: Settings, probe: str, push: bool = False) -> set[str]:
    env = {"REDGRID_WEBHOOK_INTERVAL": "0", "REDGRID_JOB_INTERVAL": "0"}
    if push:
        env.update(REDGRID_VAPID_PRIVATE_KEY=new_key_pair()[0],
                   REDGRID_VAPID_SUBJECT="mailto:ops@example.org")
    # `import web.cli` first, as the `redgrid` script does and as each spawned worker does
    # again (multiprocessing runs the parent's main module in the child).
    out = _python(settings, f"import sys, web.cli; {probe}; {LOADED}", **env)
    return set(out.split("\n")[-2].split())


# What `redgrid serve` runs before uvicorn starts the workers.
SUPERVISOR = ("from web.serving import serve; from web.settings import Settings; "
              "Settings.from_env().check_serving()")
# A worker: its app made, then started and stopped (the lifespan: pools, LISTEN, jobs).
WORKER = ("from starlette.testclient import TestClient; from web.serving import app_from_env; "
          "client = TestClient(app_from_env()); client.__enter__(); "
          "assert client.get('/healthz').status_code == 200; client.__exit__(None, None, None)")


@pytest.mark.parametrize("push", [False, True])
def test_the_supervising_process_loads_none_of_the_app(settings: Settings, push: bool) -> None:
    loaded = _loaded(settings, SUPERVISOR, push)
    assert {"uvicorn", "starlette", "typer"} <= loaded  # the probe did load what serve runs
    assert loaded & (APP_LIBRARIES | TOOL_LIBRARIES) == set()
    assert ("py_vapid" in loaded) is push  # the key is read (and checked) before workers start


@pytest.mark.parametrize("push", [False, True])
def test_a_worker_loads_the_app_but_not_the_tools(settings: Settings, push: bool) -> None:
    loaded = _loaded(settings, WORKER, push)
    assert APP_LIBRARIES <= loaded
    # Push delivery is loaded at start where push is on: not on the loop at the first push.
    assert loaded & TOOL_LIBRARIES == ({"pywebpush", "aiohttp", "requests"} if push else set())


def test_a_worker_that_cannot_start_ends_serve_with_what_to_do(settings: Settings,
                                                               tmp_path: Path) -> None:
    """The supervisor loads none of the app, and uvicorn restarts workers that die at start
    for as long as it runs: `serve` makes one worker's app first and ends on its error."""
    (tmp_path / "h3").mkdir()  # an install broken under the app, not under the supervisor
    (tmp_path / "h3" / "__init__.py").write_text('raise ImportError("h3 is broken here")\n',
                                                 encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDGRID_ENV": "development",
           "PYTHONPATH": str(tmp_path), "COLUMNS": "400"}
    done = subprocess.run([str(REDGRID), "serve", "--workers", "2", "--port",
                           str(_free_port())], env=env, capture_output=True, text=True,
                          timeout=START_S)
    assert done.returncode == 1, done.stderr
    assert "Traceback" in done.stderr  # the worker's own lines, for whoever fixes it
    assert ("a worker cannot start (ImportError: h3 is broken here); nothing was served"
            in done.stderr)
