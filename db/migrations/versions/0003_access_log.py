"""Personal-data access log: one row per unmasked read of a ticket's reporter fields.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE personal_data_access (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    subject varchar(128) NOT NULL,
    role varchar(24) NOT NULL,
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    fields text[] NOT NULL
);
CREATE INDEX ix_personal_data_access_at ON personal_data_access (at);
CREATE INDEX ix_personal_data_access_ticket ON personal_data_access (ticket_id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS personal_data_access;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
