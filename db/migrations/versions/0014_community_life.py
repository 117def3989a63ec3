"""Community life beyond tickets: social organisations 社会组织 and the communities they serve,
the monthly market fairs 万市大集 as recorded events, and the service rooms' 社服用房 ledger —
monthly rent income, and applications to use or rent a room with their approval chain
(owners' committee applies → community party organisation reviews → street approves).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE social_organisations (
    code VARCHAR(12) PRIMARY KEY,
    name VARCHAR(64) NOT NULL UNIQUE,
    kind VARCHAR(12) NOT NULL,
    field VARCHAR(16) NOT NULL,
    home_community_code VARCHAR(12) REFERENCES communities (code),
    since DATE NOT NULL,
    CONSTRAINT social_organisation_kind CHECK (kind IN ('COMMUNITY', 'EXTERNAL')),
    CONSTRAINT social_organisation_field CHECK (field IN ('ELDERLY', 'CHILDREN', 'DISABILITY',
        'CULTURE', 'MEDIATION', 'HEALTH', 'VOLUNTEERING')),
    CONSTRAINT social_organisation_home CHECK ((kind = 'COMMUNITY') = (home_community_code IS NOT NULL))
);
CREATE TABLE social_organisation_communities (
    organisation_code VARCHAR(12) NOT NULL REFERENCES social_organisations (code),
    community_code VARCHAR(12) NOT NULL REFERENCES communities (code),
    PRIMARY KEY (organisation_code, community_code)
);
CREATE INDEX ix_social_organisation_communities_community
    ON social_organisation_communities (community_code);
CREATE TABLE market_fairs (
    id BIGSERIAL PRIMARY KEY,
    held_on DATE NOT NULL,
    venue_compound_code VARCHAR(20) NOT NULL REFERENCES compounds (code),
    community_codes VARCHAR(12)[] NOT NULL,
    stalls INTEGER NOT NULL,
    attendance INTEGER NOT NULL,
    CONSTRAINT market_fair_group CHECK (cardinality(community_codes) BETWEEN 1 AND 6),
    CONSTRAINT market_fair_counts CHECK (stalls >= 0 AND attendance >= 0)
);
CREATE INDEX ix_market_fairs_held_on ON market_fairs (held_on);
CREATE TABLE service_room_rents (
    room_code VARCHAR(24) NOT NULL REFERENCES facilities (code),
    month DATE NOT NULL,
    income NUMERIC(12, 2) NOT NULL,
    PRIMARY KEY (room_code, month),
    CONSTRAINT service_room_rent_month CHECK (extract(day FROM month) = 1),
    CONSTRAINT service_room_rent_income CHECK (income >= 0)
);
CREATE TABLE service_room_applications (
    id BIGSERIAL PRIMARY KEY,
    room_code VARCHAR(24) NOT NULL REFERENCES facilities (code),
    use VARCHAR(8) NOT NULL,
    purpose TEXT NOT NULL,
    status VARCHAR(12) NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT service_room_application_use CHECK (use IN ('USE', 'RENT')),
    CONSTRAINT service_room_application_status CHECK (status IN ('APPLIED', 'REVIEWED',
        'APPROVED', 'REJECTED'))
);
CREATE INDEX ix_service_room_applications_room_code ON service_room_applications (room_code);
CREATE TABLE service_room_application_events (
    id BIGSERIAL PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES service_room_applications (id),
    at TIMESTAMPTZ NOT NULL,
    action VARCHAR(12) NOT NULL,
    actor VARCHAR(128) NOT NULL,
    note TEXT
);
CREATE INDEX ix_service_room_application_events_application_id
    ON service_room_application_events (application_id);
"""

DOWNGRADE = """
DROP TABLE IF EXISTS service_room_application_events;
DROP TABLE IF EXISTS service_room_applications;
DROP TABLE IF EXISTS service_room_rents;
DROP TABLE IF EXISTS market_fairs;
DROP TABLE IF EXISTS social_organisation_communities;
DROP TABLE IF EXISTS social_organisations;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
