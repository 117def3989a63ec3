"""Queries behind the community scorecard: hotline-ticket handling per community in a year,
and the scorecard's weights."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

_HANDLING = """
SELECT m.code AS community_code, m.name, m.zone_code, m.street_code,
       count(t.id) AS tickets,
       count(t.id) FILTER (WHERE t.resolved_at IS NOT NULL) AS resolved,
       count(t.id) FILTER (WHERE t.resolved_at IS NOT NULL AND t.resolved_at <= t.due_at)
           AS on_time,
       count(t.rating) AS rated, avg(t.rating)::float AS rating,
       count(t.id) FILTER (WHERE EXISTS (SELECT 1 FROM ticket_events e
                                         WHERE e.ticket_id = t.id AND e.action = 'ESCALATED'))
           AS escalated,
       count(t.id) FILTER (WHERE EXISTS (SELECT 1 FROM ticket_events e
                                         WHERE e.ticket_id = t.id AND e.action = 'REOPENED'))
           AS reopened
FROM communities m
LEFT JOIN tickets t ON t.community_code = m.code AND t.channel = 'HOTLINE_12345'
     AND t.created_at >= %(start)s AND t.created_at < %(end)s
GROUP BY m.code ORDER BY m.code
"""


async def handling(conn: AsyncConnection[Any], start: datetime, end: datetime) -> list[Any]:
    """Every community with its hotline tickets created in start..end: resolved, on time,
    rated (and the mean rating), escalated and reopened."""
    return await (await conn.execute(_HANDLING, {"start": start, "end": end})).fetchall()


async def weights(conn: AsyncConnection[Any]) -> list[Any]:
    cur = await conn.execute(
        "SELECT component, weight, name_zh FROM assessment_weights ORDER BY weight DESC, component")
    return await cur.fetchall()
