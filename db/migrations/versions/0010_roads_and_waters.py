"""The base map's own layers: roads 道路 (lines with a class) and waters 水系 (the 沭河 and other
water areas), so the map reads as a town even without an online basemap.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE roads (
    code VARCHAR(8) PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    kind VARCHAR(12) NOT NULL,
    geom geometry(MULTILINESTRING, 4326) NOT NULL,
    CONSTRAINT road_kind CHECK (kind IN ('PRIMARY', 'SECONDARY', 'MINOR')),
    CONSTRAINT geom_valid CHECK (ST_IsValid(geom))
);
CREATE INDEX ix_roads_geom ON roads USING gist (geom);
CREATE TABLE waters (
    code VARCHAR(8) PRIMARY KEY,
    name VARCHAR(64) NOT NULL,
    kind VARCHAR(12) NOT NULL,
    geom geometry(MULTIPOLYGON, 4326) NOT NULL,
    CONSTRAINT water_kind CHECK (kind IN ('RIVER', 'CANAL', 'POND')),
    CONSTRAINT geom_valid CHECK (ST_IsValid(geom))
);
CREATE INDEX ix_waters_geom ON waters USING gist (geom);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS waters;
DROP TABLE IF EXISTS roads;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
