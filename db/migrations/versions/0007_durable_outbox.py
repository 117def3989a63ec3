"""Durable outbox: a unit's notifications are written in the transaction of the ticket event
that causes them, by a constraint trigger deferred to commit, so none can be missed.

Before, a worker scanned `ticket_events` behind a watermark (with a window of 1,000 ids and
24 hours for transactions committing out of id order), so a transaction committing later than
that, or a worker down for longer, lost notifications silently. Deferred to commit, the
trigger sees the ticket's final units (they are written after its events) and writes one row
per (event, receiving unit); `UNIQUE (unit_code, dedupe_key)` keeps it exactly once. Events of
the last 7 days are back-filled on upgrade (idempotent, as before).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The notifications of event `e` (DISPATCHED, ESCALATED, REOPENED: a reopened ticket is
# dispatched again) to the ticket's lead and cooperating units, as they are at commit.
_NOTIFY = """
INSERT INTO notifications (unit_code, ticket_id, kind, dedupe_key, payload, created_at,
                           next_attempt_at)
SELECT u.unit_code, t.id, k.kind, e.action || ':' || t.code || ':' || e.id,
       jsonb_build_object('kind', k.kind, 'at', e.at, 'eventId', e.id, 'ticket', jsonb_build_object(
           'code', t.code, 'status', t.status, 'level', t.level, 'itemCode', t.item_code,
           'unitCode', t.unit_code, 'cellCode', t.cell_code, 'communityCode', t.community_code,
           'createdAt', t.created_at, 'dueAt', t.due_at, 'version', t.version,
           'lon', ST_X(t.geom), 'lat', ST_Y(t.geom))),
       clock_timestamp(), clock_timestamp()
FROM ticket_events e
JOIN tickets t ON t.id = e.ticket_id
CROSS JOIN LATERAL (SELECT CASE e.action WHEN 'REOPENED' THEN 'DISPATCHED'
                                         ELSE e.action END) k (kind)
CROSS JOIN LATERAL (
    SELECT t.unit_code WHERE t.unit_code IS NOT NULL
    UNION SELECT tu.unit_code FROM ticket_units tu
          WHERE tu.ticket_id = t.id AND tu.role = 'COOPERATING') u (unit_code)
WHERE {where} AND e.action IN ('DISPATCHED', 'ESCALATED', 'REOPENED')
ORDER BY 1, 4
ON CONFLICT (unit_code, dedupe_key) DO NOTHING
"""

UPGRADE = f"""
CREATE FUNCTION ticket_events_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Bulk loads of historical data notify nobody.
    IF current_setting('redgrid.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    {_NOTIFY.format(where="e.id = NEW.id")};
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ticket_events_outbox AFTER INSERT ON ticket_events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.action IN ('DISPATCHED', 'ESCALATED', 'REOPENED'))
    EXECUTE FUNCTION ticket_events_outbox();
{_NOTIFY.format(where="e.at >= now() - interval '7 days'")};
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS ticket_events_outbox ON ticket_events;
DROP FUNCTION IF EXISTS ticket_events_outbox();
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
