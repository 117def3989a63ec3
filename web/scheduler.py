"""Runs the ticket job (escalate overdue, close resolved after 7 days) on a schedule."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from db.database import Database
from resolvers.jobs import run_jobs
from web.tasks import cancel, running

log = logging.getLogger("redgrid.jobs")


def utc_now() -> datetime:
    return datetime.now(UTC)


class JobScheduler:
    """Calls `run_jobs` every `interval_s` seconds; several processes may run one each."""

    def __init__(self, db: Database, interval_s: float,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="redgrid-jobs")

    async def _loop(self) -> None:
        while True:
            try:
                report = await run_jobs(self.db, self.clock())
                if report.escalated or report.closed:
                    log.info("jobs: escalated %d, closed %d, skipped %d",
                             report.escalated, report.closed, report.skipped)
            except Exception:  # noqa: BLE001 - keep the schedule alive; the next pass retries
                log.exception("the ticket job failed; retrying in %.0f s", self.interval_s)
            await asyncio.sleep(self.interval_s)

    def alive(self) -> bool:
        return running(self._task)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
