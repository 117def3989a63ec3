"""The scheduled job: escalate overdue tickets, close resolved ones after 7 days.

Runs from `redgrid escalate-overdue` and, on a schedule, in the server; safe to run in several
processes at once (every change is a conditional update on the ticket's version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db import labels
from db.database import Database
from db.queries import ticket_updates as q
from db.vocabulary import TicketStatus
from resolvers.actor import SYSTEM
from resolvers.errors import DomainError
from resolvers.lifecycle import AUTO_CLOSE_AFTER, Request
from resolvers.workflow import escalate, transition

BATCH = 500


@dataclass(frozen=True)
class JobReport:
    escalated: int
    closed: int
    skipped: int


async def run_jobs(db: Database, now: datetime, batch: int = BATCH) -> JobReport:
    """One pass of the job at `now` (an injectable clock)."""
    escalated = closed = skipped = 0
    async with db.connection() as conn:
        overdue = await q.overdue_open(conn, now, batch)
        stale = await q.resolved_before(conn, now - AUTO_CLOSE_AFTER, batch)
    for code in overdue:
        try:
            await escalate(db, SYSTEM, code, None, labels.OVERDUE, now)
            escalated += 1
        except DomainError:
            skipped += 1  # changed meanwhile (another process, a person): next pass decides
    for code in stale:
        async with db.connection() as conn:
            ticket = await q.ticket_for_change(conn, code)
        if ticket is None:
            continue
        try:
            await transition(db, SYSTEM, code, ticket.version,
                             Request(TicketStatus.CLOSED, note=labels.AUTO_CLOSED), now)
            closed += 1
        except DomainError:
            skipped += 1
    return JobReport(escalated, closed, skipped)
