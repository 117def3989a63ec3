"""Web Push to field workers' phones: their subscriptions and the push outbox.

A subscription (one browser on one phone) belongs to a signed-in caller and keeps the scope
codes its token named, and which of a ticket's codes they are matched against (the cell, or
the compound for a supervisor). Every unit notification (dispatch, 80 % of the deadline,
escalation) also writes one push message per subscription whose scope covers the ticket, in
the same transaction, by a row trigger on `notifications`; `UNIQUE (subscription_id,
dedupe_key)` keeps it once per subscription even when several units are told of one event.
A subscription not renewed for 30 days (the app renews it on every start) gets nothing new.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE push_subscriptions (
    id BIGSERIAL PRIMARY KEY,
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    subject VARCHAR(128) NOT NULL,
    role VARCHAR(24) NOT NULL,
    ticket_key VARCHAR(8) NOT NULL,
    scopes TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    renewed_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_push_subscription_endpoint UNIQUE (endpoint),
    CONSTRAINT push_subscription_ticket_key CHECK (ticket_key IN ('cell', 'compound'))
);
CREATE INDEX ix_push_subscriptions_subject ON push_subscriptions (subject);
CREATE TABLE push_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id BIGINT NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    kind VARCHAR(16) NOT NULL,
    dedupe_key TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error TEXT,
    CONSTRAINT uq_push_message UNIQUE (subscription_id, dedupe_key),
    CONSTRAINT push_message_kind CHECK (kind IN ('DISPATCHED', 'DUE_SOON', 'ESCALATED'))
);
CREATE INDEX ix_push_messages_pending ON push_messages (next_attempt_at)
    WHERE delivered_at IS NULL;
CREATE INDEX ix_push_messages_ticket_id ON push_messages (ticket_id);

CREATE FUNCTION notifications_push() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO push_messages (subscription_id, ticket_id, kind, dedupe_key, at, created_at,
                               next_attempt_at)
    SELECT s.id, t.id, NEW.kind, NEW.dedupe_key,
           coalesce((NEW.payload ->> 'at')::timestamptz, NEW.created_at),
           NEW.created_at, NEW.next_attempt_at
    FROM tickets t
    JOIN push_subscriptions s
      ON s.renewed_at > NEW.created_at - interval '30 days'
     AND EXISTS (SELECT 1 FROM unnest(s.scopes) c (code)
                 WHERE CASE s.ticket_key WHEN 'compound' THEN t.compound_code
                                         ELSE t.cell_code END LIKE c.code || '%')
    WHERE t.id = NEW.ticket_id
    ORDER BY s.id
    ON CONFLICT (subscription_id, dedupe_key) DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER notifications_push AFTER INSERT ON notifications
    FOR EACH ROW EXECUTE FUNCTION notifications_push();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS notifications_push ON notifications;
DROP FUNCTION IF EXISTS notifications_push();
DROP TABLE IF EXISTS push_messages;
DROP TABLE IF EXISTS push_subscriptions;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
