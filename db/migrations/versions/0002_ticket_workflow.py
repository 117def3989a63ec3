"""Ticket workflow: lifecycle columns, units, co-signers, referrals, volunteer service,
bond ledger, webhooks, notification outbox, and NOTIFY on every ticket event.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tickets
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN merged_into_id bigint REFERENCES tickets (id),
    ADD COLUMN rating smallint CONSTRAINT rating_range CHECK (rating BETWEEN 1 AND 5),
    ADD COLUMN rating_comment text,
    ADD COLUMN reject_reason varchar(16)
        CONSTRAINT reject_reason CHECK (reject_reason IN ('DUPLICATE', 'OUT_OF_SCOPE', 'INVALID')),
    ADD COLUMN reporter_subject varchar(128),
    ADD COLUMN escalated_at timestamptz;
CREATE INDEX ix_tickets_reporter_subject ON tickets (reporter_subject);
CREATE INDEX ix_tickets_open_due ON tickets (due_at)
    WHERE status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS');
CREATE INDEX ix_tickets_resolved_at ON tickets (resolved_at) WHERE status = 'RESOLVED';

CREATE TABLE ticket_units (
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    unit_code varchar(24) NOT NULL REFERENCES units (code),
    role varchar(12) NOT NULL CONSTRAINT role CHECK (role IN ('LEAD', 'COOPERATING')),
    PRIMARY KEY (ticket_id, unit_code)
);
CREATE INDEX ix_ticket_units_unit ON ticket_units (unit_code, ticket_id);

CREATE TABLE ticket_cosigners (
    id bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    subject varchar(128) NOT NULL,
    at timestamptz NOT NULL,
    note text,
    CONSTRAINT uq_ticket_cosigner UNIQUE (ticket_id, subject)
);

CREATE TABLE unit_referrals (
    id bigserial PRIMARY KEY,
    unit_code varchar(24) NOT NULL REFERENCES units (code),
    at timestamptz NOT NULL,
    ticket_ids bigint[] NOT NULL,
    CONSTRAINT uq_unit_referral UNIQUE (unit_code, ticket_ids)
);

CREATE TABLE volunteer_services (
    id bigserial PRIMARY KEY,
    volunteer_code varchar(16) NOT NULL REFERENCES volunteers (code),
    at timestamptz NOT NULL,
    kind varchar(16) NOT NULL
        CONSTRAINT kind CHECK (kind IN ('TICKET', 'ACTIVITY', 'MISSED_CALLUP')),
    ticket_id bigint REFERENCES tickets (id),
    note text,
    recorded_by varchar(128)
);
CREATE INDEX ix_volunteer_services_volunteer ON volunteer_services (volunteer_code, at);

ALTER TABLE property_contracts ADD COLUMN bond_balance numeric(14, 2);
UPDATE property_contracts SET bond_balance = bond_amount;
ALTER TABLE property_contracts ALTER COLUMN bond_balance SET NOT NULL,
    ADD CONSTRAINT bond_balance_non_negative CHECK (bond_balance >= 0);

CREATE TABLE bond_ledger (
    id bigserial PRIMARY KEY,
    contract_id integer NOT NULL REFERENCES property_contracts (id),
    at timestamptz NOT NULL,
    kind varchar(12) NOT NULL CONSTRAINT kind CHECK (kind IN ('DEPOSIT', 'DRAWDOWN', 'TOPUP')),
    amount numeric(14, 2) NOT NULL CONSTRAINT amount_positive CHECK (amount > 0),
    balance_after numeric(14, 2) NOT NULL
        CONSTRAINT balance_non_negative CHECK (balance_after >= 0),
    reason text NOT NULL,
    ticket_id bigint REFERENCES tickets (id),
    actor varchar(128) NOT NULL
);
CREATE INDEX ix_bond_ledger_contract ON bond_ledger (contract_id, id);

CREATE TABLE unit_webhooks (
    unit_code varchar(24) PRIMARY KEY REFERENCES units (code),
    url text NOT NULL,
    secret text NOT NULL,
    active boolean NOT NULL DEFAULT true
);

CREATE TABLE notifications (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    unit_code varchar(24) NOT NULL REFERENCES units (code),
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    kind varchar(16) NOT NULL
        CONSTRAINT kind CHECK (kind IN ('DISPATCHED', 'DUE_SOON', 'ESCALATED')),
    dedupe_key text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    delivered_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error text,
    CONSTRAINT uq_notification UNIQUE (unit_code, dedupe_key)
);
CREATE INDEX ix_notifications_pending ON notifications (next_attempt_at)
    WHERE delivered_at IS NULL;

-- Every ticket event is announced to listeners (subscriptions in every server process).
CREATE FUNCTION ticket_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t tickets%ROWTYPE;
BEGIN
    -- Bulk loads of historical data announce nothing.
    IF current_setting('redgrid.bulk_load', true) = 'on' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO t FROM tickets WHERE id = NEW.ticket_id;
    PERFORM pg_notify('redgrid_ticket_events', json_build_object(
        'eventId', NEW.id, 'ticketId', t.id, 'code', t.code, 'at', NEW.at,
        'action', NEW.action, 'fromStatus', NEW.from_status, 'toStatus', NEW.to_status,
        'status', t.status, 'level', t.level, 'cellCode', t.cell_code,
        'communityCode', t.community_code, 'unitCode', t.unit_code,
        'lon', ST_X(t.geom), 'lat', ST_Y(t.geom))::text);
    RETURN NULL;
END $$;
CREATE TRIGGER ticket_events_notify AFTER INSERT ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_notify();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS ticket_events_notify ON ticket_events;
DROP FUNCTION IF EXISTS ticket_events_notify();
DROP TABLE IF EXISTS notifications, unit_webhooks, bond_ledger, volunteer_services,
    unit_referrals, ticket_cosigners, ticket_units;
ALTER TABLE property_contracts DROP COLUMN IF EXISTS bond_balance;
DROP INDEX IF EXISTS ix_tickets_resolved_at, ix_tickets_open_due, ix_tickets_reporter_subject;
ALTER TABLE tickets DROP COLUMN IF EXISTS escalated_at, DROP COLUMN IF EXISTS reporter_subject,
    DROP COLUMN IF EXISTS reject_reason, DROP COLUMN IF EXISTS rating_comment,
    DROP COLUMN IF EXISTS rating, DROP COLUMN IF EXISTS merged_into_id,
    DROP COLUMN IF EXISTS closed_at, DROP COLUMN IF EXISTS resolved_at;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
