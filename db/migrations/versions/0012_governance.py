"""Governance depth: the responsibility manual's legal basis per demand item.

- demand_items: `legal_basis`, the laws and clauses behind the item (法律依据), shown with its
  lead and cooperating unit kinds. Existing rows get an empty text: a seeded database is
  re-seeded to fill it.
- volunteer_year_records: each member's year under the duty rule as reported to their
  employer (two-way evaluation 双向评价): participations, misses, the longest run of misses
  and the tier it came to (a talk 谈话提醒 at 2 missed call-ups in a row, a public criticism
  notice 通报批评 at 3); one record per member and year, written again when a year is
  reported again.
- owners_committees 业委会: a compound's committee for one term (at most 5 years; the newest
  term is the sitting one), with its members (chair, vice-chair or member; party membership;
  whether they sit on the community's two committees 两委; removal by the negative list) and
  the vetting 审查 of members against the 8-item negative list.
- supervisor_findings: problems compound supervisors 小区监督员 found and pushed the property
  company under contract to fix (the account: 530 found and solved); counted per company and
  manager in the property ranking.
- summons: the summons 约谈 of a property company or another unit by the county (the account:
  8 companies and 9 units).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
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

CREATE TABLE owners_committees (
    id bigserial PRIMARY KEY,
    compound_code varchar(20) NOT NULL REFERENCES compounds (code),
    term_start date NOT NULL,
    term_end date NOT NULL,
    elected_at timestamptz NOT NULL,
    elected_by varchar(128) NOT NULL,
    CONSTRAINT committee_term CHECK (term_end > term_start
                                     AND term_end <= term_start + interval '5 years'),
    CONSTRAINT uq_owners_committee_term UNIQUE (compound_code, term_start)
);
CREATE TABLE committee_members (
    id bigserial PRIMARY KEY,
    committee_id bigint NOT NULL REFERENCES owners_committees (id),
    name varchar(32) NOT NULL,
    role varchar(12) NOT NULL,
    party_member boolean NOT NULL,
    on_community_committees boolean NOT NULL,
    removed_at timestamptz,
    removed_for varchar(4),
    CONSTRAINT member_role CHECK (role IN ('CHAIR', 'VICE_CHAIR', 'MEMBER')),
    CONSTRAINT member_removal CHECK ((removed_at IS NULL) = (removed_for IS NULL))
);
CREATE INDEX ix_committee_members_committee ON committee_members (committee_id);
CREATE UNIQUE INDEX uq_committee_members_one_chair ON committee_members (committee_id)
    WHERE role = 'CHAIR' AND removed_at IS NULL;
CREATE TABLE committee_vettings (
    id bigserial PRIMARY KEY,
    member_id bigint NOT NULL REFERENCES committee_members (id),
    vetted_at timestamptz NOT NULL,
    negative_items text[] NOT NULL DEFAULT '{}',
    outcome varchar(8) NOT NULL,
    vetted_by varchar(128) NOT NULL,
    CONSTRAINT vetting_outcome CHECK (outcome IN ('PASSED', 'REMOVED')
                                      AND (outcome = 'REMOVED') = (cardinality(negative_items) > 0))
);
CREATE INDEX ix_committee_vettings_member ON committee_vettings (member_id, vetted_at);

CREATE TABLE supervisor_findings (
    id bigserial PRIMARY KEY,
    supervisor_code varchar(16) NOT NULL REFERENCES volunteers (code),
    compound_code varchar(20) NOT NULL REFERENCES compounds (code),
    company_code varchar(24) NOT NULL REFERENCES units (code),
    found_at timestamptz NOT NULL,
    resolved_at timestamptz,
    note text NOT NULL,
    CONSTRAINT finding_resolved_after CHECK (resolved_at IS NULL OR resolved_at >= found_at)
);
CREATE INDEX ix_supervisor_findings_compound_found
    ON supervisor_findings (compound_code, found_at);

CREATE TABLE summons (
    id bigserial PRIMARY KEY,
    unit_code varchar(24) NOT NULL REFERENCES units (code),
    at timestamptz NOT NULL,
    reason text NOT NULL,
    summoned_by varchar(128) NOT NULL
);
CREATE INDEX ix_summons_at ON summons (at);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS summons;
DROP TABLE IF EXISTS supervisor_findings;
DROP TABLE IF EXISTS committee_vettings;
DROP TABLE IF EXISTS committee_members;
DROP TABLE IF EXISTS owners_committees;
DROP TABLE IF EXISTS volunteer_year_records;
ALTER TABLE demand_items DROP COLUMN IF EXISTS legal_basis;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
