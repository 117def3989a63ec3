"""Ticket photos 工单照片: the rows that point at the media store, written with their step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from db.queries.ticket_scope import TicketScope


@dataclass(frozen=True)
class PhotoRow:
    """What is kept of one stored photo."""

    sha256: str
    thumb_sha256: str
    media_type: str
    width: int
    height: int
    bytes: int


# The step a photo came with: the ticket's first event (CREATED) when it came with the ticket,
# else the newest, the one the same transaction has just written.
_STEP = {"created": sql.SQL("ORDER BY id ASC LIMIT 1"),
         "latest": sql.SQL("ORDER BY id DESC LIMIT 1")}


async def add_photos(conn: AsyncConnection[Any], ticket_id: int, photos: Sequence[PhotoRow], *,
                     step: str, actor: str | None, now: datetime) -> None:
    """Rows for `photos` on a ticket, tied to the event of `step` (`created` or `latest`)."""
    query = sql.SQL(
        "INSERT INTO ticket_photos (ticket_id, event_id, sha256, thumb_sha256, media_type, "
        "width, height, bytes, uploaded_by, created_at) "
        "SELECT %(ticket_id)s, (SELECT id FROM ticket_events WHERE ticket_id = %(ticket_id)s {}), "
        "%(sha256)s, %(thumb)s, %(media_type)s, %(width)s, %(height)s, %(bytes)s, %(actor)s, "
        "%(now)s").format(_STEP[step])
    async with conn.cursor() as cur:
        await cur.executemany(query, [
            {"ticket_id": ticket_id, "sha256": p.sha256, "thumb": p.thumb_sha256,
             "media_type": p.media_type, "width": p.width, "height": p.height,
             "bytes": p.bytes, "actor": actor, "now": now} for p in photos])


async def photos_by_ticket(conn: AsyncConnection[Any], ticket_ids: Sequence[int],
                           scope: TicketScope) -> list[Any]:
    """The photos of tickets the scope lets through, oldest first."""
    scope_sql, scope_params = scope.clause()
    query = sql.SQL(
        "SELECT p.id, p.ticket_id, p.event_id, p.sha256, p.thumb_sha256, p.media_type, "
        "p.width, p.height, p.bytes, p.created_at, e.action AS step "
        "FROM ticket_photos p JOIN tickets ON tickets.id = p.ticket_id "
        "LEFT JOIN ticket_events e ON e.id = p.event_id "
        "WHERE p.ticket_id = ANY(%(ids)s) AND {} ORDER BY p.ticket_id, p.id").format(
        sql.SQL(scope_sql))
    cur = await conn.execute(query, {"ids": list(ticket_ids), **scope_params})
    return await cur.fetchall()



async def photos_named(conn: AsyncConnection[Any], digests: Sequence[str]) -> set[str]:
    """Which of these SHA-256 digests a photo row names (as its image or its thumbnail)."""
    cur = await conn.execute(
        "SELECT sha256 AS d FROM ticket_photos WHERE sha256 = ANY(%(d)s) "
        "UNION SELECT thumb_sha256 FROM ticket_photos WHERE thumb_sha256 = ANY(%(d)s)",
        {"d": list(digests)})
    return {r.d for r in await cur.fetchall()}
