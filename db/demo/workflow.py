"""Derives the workflow columns of the demo tickets from their event histories."""

from __future__ import annotations

import psycopg

DERIVE = (
    """UPDATE tickets t SET resolved_at = e.at FROM (
           SELECT ticket_id, max(at) AS at FROM ticket_events WHERE to_status = 'RESOLVED'
           GROUP BY ticket_id) e
       WHERE e.ticket_id = t.id""",
    """UPDATE tickets t SET closed_at = e.at,
           rating = substring(e.note FROM '评价 ([1-5]) 星')::smallint
       FROM ticket_events e WHERE e.ticket_id = t.id AND e.to_status = 'CLOSED'""",
    """UPDATE tickets t SET escalated_at = e.at FROM (
           SELECT ticket_id, max(at) AS at FROM ticket_events WHERE action = 'ESCALATED'
           GROUP BY ticket_id) e
       WHERE e.ticket_id = t.id""",
    "UPDATE tickets SET reject_reason = 'DUPLICATE' WHERE status = 'REJECTED'",
    """INSERT INTO ticket_units (ticket_id, unit_code, role)
       SELECT id, unit_code, 'LEAD' FROM tickets WHERE unit_code IS NOT NULL
       ON CONFLICT DO NOTHING""",
)


def derive_workflow(conn: psycopg.Connection) -> None:
    for statement in DERIVE:
        conn.execute(statement)
