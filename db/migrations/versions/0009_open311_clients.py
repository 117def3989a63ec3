"""Open311 GeoReport v2: registered clients (api_key stored as its SHA-256 only, with a role,
scope codes and the channel it files on) and what a client sent with each ticket beyond the
ticket itself (address text, media URL, device, account, e-mail, service attributes).

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_CHANNELS = ", ".join(f"'{c}'" for c in (
    "HOTLINE_12345", "RECEPTION_DAY", "PLAZA_REPORT", "DOOR_KNOCKING",
    "QR_CODE", "SUPERVISOR", "GRID_PATROL", "ONLINE"))

UPGRADE = f"""
CREATE TABLE open311_clients (
    id BIGSERIAL PRIMARY KEY,
    name VARCHAR(64) NOT NULL UNIQUE,
    key_hash VARCHAR(64) NOT NULL UNIQUE,
    role VARCHAR(24) NOT NULL,
    scopes TEXT[] NOT NULL DEFAULT '{{}}',
    channel VARCHAR(24) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT open311_client_channel CHECK (channel IN ({_CHANNELS}))
);
CREATE TABLE open311_requests (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    client_id BIGINT NOT NULL REFERENCES open311_clients (id),
    address_string TEXT,
    media_url TEXT,
    device_id VARCHAR(128),
    account_id VARCHAR(128),
    email VARCHAR(254),
    attributes JSONB NOT NULL DEFAULT '{{}}'::jsonb
);
CREATE INDEX ix_open311_requests_client ON open311_requests (client_id, ticket_id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS open311_requests;
DROP TABLE IF EXISTS open311_clients;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
