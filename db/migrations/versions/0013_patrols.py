"""The patrol log: grid workers' and supervisors' visits (where, when, the building, what was
found or nothing, the ticket filed for it), once per worker and idempotency key.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE patrol_visits (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    worker VARCHAR(128) NOT NULL,
    cell_code VARCHAR(15) NOT NULL REFERENCES grid_cells (code),
    compound_code VARCHAR(20) REFERENCES compounds (code),
    building_code VARCHAR(24) REFERENCES buildings (code),
    geom geometry(POINT, 4326) NOT NULL,
    findings TEXT,
    ticket_id BIGINT REFERENCES tickets (id),
    idempotency_key VARCHAR(128),
    request_hash VARCHAR(64),
    CONSTRAINT uq_patrol_visits_idempotency UNIQUE (worker, idempotency_key),
    CONSTRAINT geom_valid CHECK (ST_IsValid(geom))
);
CREATE INDEX ix_patrol_visits_cell_at ON patrol_visits (cell_code, at);
CREATE INDEX ix_patrol_visits_geom ON patrol_visits USING gist (geom);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS patrol_visits;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
