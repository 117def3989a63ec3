"""Liveness and readiness for load balancers and orchestrators.

`/healthz`: the process answers (nothing else is checked, so a database outage does not get
the process restarted). `/readyz`: the database answers, its migrations are at the head this
code needs, the photo store can be written to (a folder, or an S3-compatible bucket that
answers and accepts RedGrid's credentials), and the background workers that were started are
still running; 503 with the reasons otherwise, so a load balancer sends no traffic to a
server that cannot serve it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db import revisions
from db.database import UNREACHABLE
from db.media import MediaStoreError
from resolvers.errors import ErrorCode
from web.errors import PRIVATE, envelope

READY_TIMEOUT_S = 2.0
log = logging.getLogger("redgrid.health")
_HEAD = revisions.head()


def _json(body: dict[str, Any], status: int = 200) -> Response:
    headers = {**PRIVATE} if status == 200 else {**PRIVATE, "Retry-After": "5"}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


async def _revision(request: Request) -> str | None:
    async with request.app.state.db.connection() as conn:
        row = await (await conn.execute("SELECT version_num FROM alembic_version",
                                        prepare=False)).fetchone()
    return str(row[0]) if row else None


def _store_problem(store: Any) -> str | None:
    """What is wrong with the photo store, or None (the bucket and endpoint go to the log
    only)."""
    try:
        store.check()
    except MediaStoreError as exc:
        log.warning("readiness: media store: %s", exc.reason)
        return ("media: the photo store cannot be reached" if exc.retryable else
                "media: the photo store refuses RedGrid (its credentials, permissions, bucket "
                "or folder)")
    return None


async def readyz(request: Request) -> Response:
    problems: list[str] = []
    try:
        revision = await asyncio.wait_for(_revision(request), READY_TIMEOUT_S)
    except (*UNREACHABLE, OSError, TimeoutError):
        problems.append("database: unreachable")
    else:
        if revision != _HEAD:
            problems.append(f"migrations: the database is at {revision}, this code needs "
                            f"{_HEAD} (run `redgrid migrate`)")
    state = request.app.state
    if getattr(state, "media", None) is not None:
        # One check of the store at a time per process: a probe arriving while one runs
        # waits for it, so probes never pile up threads on a store that hangs.
        running = getattr(state, "media_check", None)
        if running is None or running.done():
            running = state.media_check = asyncio.ensure_future(
                asyncio.to_thread(_store_problem, state.media.store))
        try:
            problem = await asyncio.wait_for(asyncio.shield(running), READY_TIMEOUT_S)
        except TimeoutError:
            problem = f"media: no answer within {READY_TIMEOUT_S:g} s"
        if problem:
            problems.append(problem)
    for name in ("jobs", "webhooks", "live"):
        worker = getattr(request.app.state, name, None)
        if worker is not None and not worker.alive():
            problems.append(f"{name}: the background task has stopped")
    if problems:
        # The status and problems for probes; the error envelope every route answers with.
        return _json({"status": "unavailable", "problems": problems,
                      **envelope(ErrorCode.UNAVAILABLE, "; ".join(problems))}, 503)
    return _json({"status": "ready", "migration": _HEAD})


ROUTES = [Route("/healthz", healthz), Route("/readyz", readyz)]
