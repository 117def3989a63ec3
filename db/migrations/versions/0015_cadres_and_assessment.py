"""Community cadres 社区干部, zone staff 片区工作人员 and the community scorecard: the elected
cadres with their post,
the management rules as data (12 kinds of pay deduction, 10 of suspension or dismissal, one
political check a year) with the cases decided under them, the yearly checks, training trips
and new/old secretary mentoring pairs; and the scorecard's weights in one table.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE cadres (
    code VARCHAR(16) PRIMARY KEY,
    name VARCHAR(32) NOT NULL,
    community_code VARCHAR(12) NOT NULL REFERENCES communities (code),
    post VARCHAR(16) NOT NULL,
    party_member BOOLEAN NOT NULL,
    elected_on DATE NOT NULL,
    CONSTRAINT cadre_post CHECK (post IN ('SECRETARY', 'DIRECTOR', 'DEPUTY_SECRETARY',
        'DEPUTY_DIRECTOR', 'MEMBER'))
);
CREATE INDEX ix_cadres_community_code ON cadres (community_code);
CREATE TABLE cadre_rules (
    code VARCHAR(24) PRIMARY KEY,
    kind VARCHAR(12) NOT NULL,
    name_zh VARCHAR(64) NOT NULL,
    CONSTRAINT cadre_rule_kind CHECK (kind IN ('DEDUCTION', 'SUSPENSION', 'CHECK'))
);
CREATE TABLE cadre_cases (
    id BIGSERIAL PRIMARY KEY,
    cadre_code VARCHAR(16) NOT NULL REFERENCES cadres (code),
    rule_code VARCHAR(24) NOT NULL REFERENCES cadre_rules (code),
    decided_on DATE NOT NULL,
    note TEXT
);
CREATE INDEX ix_cadre_cases_cadre_code ON cadre_cases (cadre_code);
CREATE TABLE cadre_checks (
    cadre_code VARCHAR(16) NOT NULL REFERENCES cadres (code),
    year INTEGER NOT NULL,
    checked_on DATE NOT NULL,
    passed BOOLEAN NOT NULL,
    PRIMARY KEY (cadre_code, year)
);
CREATE TABLE cadre_trainings (
    id BIGSERIAL PRIMARY KEY,
    title VARCHAR(64) NOT NULL,
    destination VARCHAR(64) NOT NULL,
    started_on DATE NOT NULL,
    days INTEGER NOT NULL,
    cadre_codes VARCHAR(16)[] NOT NULL,
    CONSTRAINT cadre_training_days CHECK (days BETWEEN 1 AND 60)
);
CREATE TABLE cadre_mentorships (
    mentor_code VARCHAR(16) NOT NULL REFERENCES cadres (code),
    mentee_code VARCHAR(16) NOT NULL REFERENCES cadres (code),
    since DATE NOT NULL,
    PRIMARY KEY (mentor_code, mentee_code),
    CONSTRAINT cadre_mentorship_pair CHECK (mentor_code <> mentee_code)
);
CREATE TABLE zone_staff (
    code VARCHAR(16) PRIMARY KEY,
    zone_code VARCHAR(8) NOT NULL REFERENCES zones (code),
    name VARCHAR(32) NOT NULL,
    post VARCHAR(16) NOT NULL,
    CONSTRAINT zone_staff_post CHECK (post IN ('SECRETARY', 'DEPUTY_SECRETARY', 'COORDINATOR',
        'GRID_LEAD'))
);
CREATE INDEX ix_zone_staff_zone_code ON zone_staff (zone_code);
CREATE TABLE assessment_weights (
    component VARCHAR(24) PRIMARY KEY,
    weight NUMERIC(4, 3) NOT NULL,
    name_zh VARCHAR(32) NOT NULL,
    CONSTRAINT assessment_weight_range CHECK (weight >= 0 AND weight <= 1)
);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS assessment_weights;
DROP TABLE IF EXISTS zone_staff;
DROP TABLE IF EXISTS cadre_mentorships;
DROP TABLE IF EXISTS cadre_trainings;
DROP TABLE IF EXISTS cadre_checks;
DROP TABLE IF EXISTS cadre_cases;
DROP TABLE IF EXISTS cadre_rules;
DROP TABLE IF EXISTS cadres;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
