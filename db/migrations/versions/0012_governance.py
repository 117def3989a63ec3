"""Governance depth: the responsibility manual's legal basis per demand item.

- demand_items: `legal_basis`, the laws and clauses behind the item (法律依据), shown with its
  lead and cooperating unit kinds. Existing rows get an empty text: a seeded database is
  re-seeded to fill it.
- volunteer_year_records: each member's year under the duty rule as reported to their
  employer (two-way evaluation 双向评价): participations, misses, the longest run of misses
  and the tier it came to (a talk 谈话提醒 at 2 missed call-ups in a row, a public criticism
  notice 通报批评 at 3); one record per member and year, written again when a year is
  reported again.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE demand_items ADD COLUMN legal_basis text NOT NULL DEFAULT '';

CREATE TABLE volunteer_year_records (
    volunteer_code varchar(16) NOT NULL REFERENCES volunteers (code),
    year smallint NOT NULL,
    community_code varchar(12) NOT NULL REFERENCES communities (code),
    employer varchar(64),
    participations integer NOT NULL,
    misses integer NOT NULL,
    longest_miss_run integer NOT NULL,
    tier varchar(16) NOT NULL,
    reported_at timestamptz NOT NULL,
    reported_by varchar(128) NOT NULL,
    PRIMARY KEY (volunteer_code, year),
    CONSTRAINT duty_tier CHECK (tier IN ('NONE', 'TALK', 'PUBLIC_CRITICISM')),
    CONSTRAINT year_record_counts CHECK (participations >= 0 AND misses >= 0
                                         AND longest_miss_run BETWEEN 0 AND misses)
);
CREATE INDEX ix_volunteer_year_records_year_community
    ON volunteer_year_records (year, community_code);
CREATE INDEX ix_volunteer_year_records_year_employer ON volunteer_year_records (year, employer);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS volunteer_year_records;
ALTER TABLE demand_items DROP COLUMN IF EXISTS legal_basis;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
