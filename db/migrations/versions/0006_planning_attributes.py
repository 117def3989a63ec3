"""Planning attributes: compounds' resident mix and demand point, facilities' capacity,
operator and metric point, service rooms' status.

- compounds: `elderly` (60+) and `children` (0–14) beside `population`; `center_metric`, the
  compound's demand point (ST_PointOnSurface) in EPSG:4549, generated from the outline and
  GiST-indexed, so coverage and site selection rank and filter in metres on an index.
- facilities: `capacity` (seats, beds or m², as fits the kind), `operator`, `status` of service
  rooms 社服用房 (IDLE, IN_USE, RENTED; null for other kinds), and `geom_metric` generated
  from the point and GiST-indexed.

Existing rows get zero elderly and children and no capacity: a seeded database is re-seeded
to fill them.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE compounds
    ADD COLUMN elderly integer NOT NULL DEFAULT 0 CONSTRAINT elderly_nonnegative CHECK (elderly >= 0),
    ADD COLUMN children integer NOT NULL DEFAULT 0 CONSTRAINT children_nonnegative CHECK (children >= 0),
    ADD COLUMN center_metric geometry(Point, 4549)
        GENERATED ALWAYS AS (ST_Transform(ST_PointOnSurface(geom), 4549)) STORED,
    ADD CONSTRAINT resident_mix CHECK (elderly + children <= population),
    ADD CONSTRAINT center_metric_valid CHECK (ST_IsValid(center_metric));
CREATE INDEX ix_compounds_center_metric ON compounds USING gist (center_metric);

ALTER TABLE facilities
    ADD COLUMN capacity integer CONSTRAINT capacity_positive CHECK (capacity > 0),
    ADD COLUMN operator varchar(64),
    ADD COLUMN status varchar(8),
    ADD COLUMN geom_metric geometry(Point, 4549)
        GENERATED ALWAYS AS (ST_Transform(geom, 4549)) STORED,
    ADD CONSTRAINT status CHECK (
        status IS NULL OR (kind = 'SERVICE_ROOM' AND status IN ('IDLE', 'IN_USE', 'RENTED'))),
    ADD CONSTRAINT geom_metric_valid CHECK (ST_IsValid(geom_metric));
CREATE INDEX ix_facilities_geom_metric ON facilities USING gist (geom_metric);
"""

DOWNGRADE = """
DROP INDEX IF EXISTS ix_facilities_geom_metric;
ALTER TABLE facilities
    DROP CONSTRAINT IF EXISTS geom_metric_valid, DROP CONSTRAINT IF EXISTS status,
    DROP COLUMN IF EXISTS geom_metric, DROP COLUMN IF EXISTS status,
    DROP COLUMN IF EXISTS operator, DROP COLUMN IF EXISTS capacity;
DROP INDEX IF EXISTS ix_compounds_center_metric;
ALTER TABLE compounds
    DROP CONSTRAINT IF EXISTS center_metric_valid, DROP CONSTRAINT IF EXISTS resident_mix,
    DROP COLUMN IF EXISTS center_metric, DROP COLUMN IF EXISTS children,
    DROP COLUMN IF EXISTS elderly;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
