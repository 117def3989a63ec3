"""Photos on tickets: one row per stored photo, with the workflow step (event) it came with.
The bytes live outside the database, in the media store, under their SHA-256.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE ticket_photos (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    event_id BIGINT REFERENCES ticket_events (id),
    sha256 VARCHAR(64) NOT NULL,
    thumb_sha256 VARCHAR(64) NOT NULL,
    media_type VARCHAR(16) NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    uploaded_by VARCHAR(128),
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT ticket_photo_media_type CHECK (media_type IN ('image/jpeg', 'image/webp'))
);
CREATE INDEX ix_ticket_photos_ticket ON ticket_photos (ticket_id, id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS ticket_photos;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
