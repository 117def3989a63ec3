"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-27 23:04:18.055274
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


TRIGGERS = """
CREATE FUNCTION tickets_set_geom_metric() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The metric copy of the point is derived here so that no writer can let it drift.
    NEW.geom_metric := ST_Transform(NEW.geom, 4549);
    RETURN NEW;
END $$;
CREATE TRIGGER tickets_geom_metric BEFORE INSERT OR UPDATE OF geom ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_set_geom_metric();
CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ticket_events is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER ticket_events_no_change BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "dataset_info",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "demand_categories",
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("name_zh", sa.String(length=32), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "streets",
        sa.Column("code", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_streets_geom", "streets", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "demand_items",
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("category_code", sa.String(length=4), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("lead_unit_kind", sa.String(length=32), nullable=False),
        sa.Column("cooperating_unit_kinds", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("deadline_class", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "deadline_class IN ('EMERGENCY_2H', 'UTILITY_24H', 'GENERAL_7D', 'COMPLEX_15D')",
            name="deadline",
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["demand_categories.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "zones",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("street_code", sa.String(length=9), nullable=False),
        sa.Column("secretary_name", sa.String(length=32), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(
            ["street_code"],
            ["streets.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_zones_geom", "zones", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_zones_street_code"), "zones", ["street_code"], unique=False)
    op.create_table(
        "communities",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("zone_code", sa.String(length=8), nullable=False),
        sa.Column("street_code", sa.String(length=9), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(
            ["street_code"],
            ["streets.code"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_code"],
            ["zones.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(
        "ix_communities_geom", "communities", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        op.f("ix_communities_street_code"), "communities", ["street_code"], unique=False
    )
    op.create_index(op.f("ix_communities_zone_code"), "communities", ["zone_code"], unique=False)
    op.create_table(
        "compounds",
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(
        op.f("ix_compounds_community_code"), "compounds", ["community_code"], unique=False
    )
    op.create_index(
        "ix_compounds_geom", "compounds", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "grid_cells",
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[0-9]{15}$'", name="code_digits"),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(
        op.f("ix_grid_cells_community_code"), "grid_cells", ["community_code"], unique=False
    )
    op.create_index(
        "ix_grid_cells_geom", "grid_cells", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=True),
        sa.Column("street_code", sa.String(length=9), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
        ),
        sa.ForeignKeyConstraint(
            ["street_code"],
            ["streets.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_units_kind"), "units", ["kind"], unique=False)
    op.create_table(
        "buildings",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("compound_code", sa.String(length=20), nullable=False),
        sa.Column("cell_code", sa.String(length=15), nullable=False),
        sa.Column("floors", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(
            ["cell_code"],
            ["grid_cells.code"],
        ),
        sa.ForeignKeyConstraint(
            ["compound_code"],
            ["compounds.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(op.f("ix_buildings_cell_code"), "buildings", ["cell_code"], unique=False)
    op.create_index(
        op.f("ix_buildings_compound_code"), "buildings", ["compound_code"], unique=False
    )
    op.create_index(
        "ix_buildings_geom", "buildings", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "facilities",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subtype", sa.String(length=32), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("compound_code", sa.String(length=20), nullable=True),
        sa.Column("area_m2", sa.Numeric(precision=10, scale=1), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('STATION', 'CLINIC', 'CANTEEN', 'SERVICE_ROOM')", name="kind"),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
        ),
        sa.ForeignKeyConstraint(
            ["compound_code"],
            ["compounds.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(
        op.f("ix_facilities_community_code"), "facilities", ["community_code"], unique=False
    )
    op.create_index(
        "ix_facilities_geom", "facilities", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_facilities_kind"), "facilities", ["kind"], unique=False)
    op.create_table(
        "property_contracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("compound_code", sa.String(length=20), nullable=False),
        sa.Column("company_code", sa.String(length=24), nullable=False),
        sa.Column("manager_name", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("annual_fee_receivable", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("bond_rate", sa.Numeric(precision=4, scale=3), nullable=False),
        sa.Column("bond_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.CheckConstraint("bond_rate BETWEEN 0.05 AND 0.10", name="bond_rate_range"),
        sa.CheckConstraint("end_date IS NULL OR end_date > start_date", name="dates_ordered"),
        sa.ForeignKeyConstraint(
            ["company_code"],
            ["units.code"],
        ),
        sa.ForeignKeyConstraint(
            ["compound_code"],
            ["compounds.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_property_contracts_company_code"),
        "property_contracts",
        ["company_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_property_contracts_compound_code"),
        "property_contracts",
        ["compound_code"],
        unique=False,
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("item_code", sa.String(length=4), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reporter_name", sa.String(length=64), nullable=True),
        sa.Column("reporter_phone", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=12), server_default="COMMUNITY", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "geom_metric",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4549,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("cell_code", sa.String(length=15), nullable=False),
        sa.Column("compound_code", sa.String(length=20), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("zone_code", sa.String(length=8), nullable=False),
        sa.Column("street_code", sa.String(length=9), nullable=False),
        sa.Column("unit_code", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("idempotency_caller", sa.String(length=128), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "channel IN ('HOTLINE_12345', 'RECEPTION_DAY', 'PLAZA_REPORT', 'DOOR_KNOCKING', 'QR_CODE', 'SUPERVISOR', 'GRID_PATROL', 'ONLINE')",
            name="channel",
        ),
        sa.CheckConstraint("level IN ('COMMUNITY', 'STREET', 'COUNTY')", name="level"),
        sa.CheckConstraint(
            "status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS', 'RESOLVED', 'CLOSED', 'REJECTED')",
            name="status",
        ),
        sa.CheckConstraint("ST_IsValid(geom)", name="geom_valid"),
        sa.CheckConstraint("ST_IsValid(geom_metric)", name="geom_metric_valid"),
        sa.CheckConstraint("due_at > created_at", name="due_after_created"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.ForeignKeyConstraint(
            ["cell_code"],
            ["grid_cells.code"],
        ),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
        ),
        sa.ForeignKeyConstraint(
            ["compound_code"],
            ["compounds.code"],
        ),
        sa.ForeignKeyConstraint(
            ["item_code"],
            ["demand_items.code"],
        ),
        sa.ForeignKeyConstraint(
            ["street_code"],
            ["streets.code"],
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"],
            ["units.code"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_code"],
            ["zones.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("idempotency_caller", "idempotency_key", name="uq_tickets_idempotency"),
    )
    op.create_index(op.f("ix_tickets_cell_code"), "tickets", ["cell_code"], unique=False)
    op.create_index(
        "ix_tickets_community_created",
        "tickets",
        ["community_code", sa.literal_column("created_at DESC")],
        unique=False,
    )
    op.create_index(op.f("ix_tickets_compound_code"), "tickets", ["compound_code"], unique=False)
    op.create_index(
        "ix_tickets_created",
        "tickets",
        [sa.literal_column("created_at DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index("ix_tickets_geom", "tickets", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "ix_tickets_geom_metric", "tickets", ["geom_metric"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "ix_tickets_geom_metric_open",
        "tickets",
        ["geom_metric"],
        unique=False,
        postgresql_using="gist",
        postgresql_where=sa.text("status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS')"),
    )
    op.create_index(op.f("ix_tickets_item_code"), "tickets", ["item_code"], unique=False)
    op.create_index(op.f("ix_tickets_unit_code"), "tickets", ["unit_code"], unique=False)
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_ticket_events_ticket_id"), "ticket_events", ["ticket_id"], unique=False
    )
    op.execute(TRIGGERS)
    op.create_table(
        "volunteers",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("party_member", sa.Boolean(), nullable=False),
        sa.Column("employer", sa.String(length=64), nullable=True),
        sa.Column("building_code", sa.String(length=24), nullable=True),
        sa.Column("cell_code", sa.String(length=15), nullable=True),
        sa.Column("compound_code", sa.String(length=20), nullable=True),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.CheckConstraint(
            "role IN ('BUILDING_HEAD', 'RED_COLLAR_SECRETARY', 'SUPERVISOR', 'GRID_WORKER')",
            name="role",
        ),
        sa.ForeignKeyConstraint(
            ["building_code"],
            ["buildings.code"],
        ),
        sa.ForeignKeyConstraint(
            ["cell_code"],
            ["grid_cells.code"],
        ),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
        ),
        sa.ForeignKeyConstraint(
            ["compound_code"],
            ["compounds.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(
        op.f("ix_volunteers_building_code"), "volunteers", ["building_code"], unique=False
    )
    op.create_index(op.f("ix_volunteers_cell_code"), "volunteers", ["cell_code"], unique=False)
    op.create_index(
        op.f("ix_volunteers_community_code"), "volunteers", ["community_code"], unique=False
    )
    op.create_index(
        op.f("ix_volunteers_compound_code"), "volunteers", ["compound_code"], unique=False
    )
    op.create_index(op.f("ix_volunteers_role"), "volunteers", ["role"], unique=False)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ticket_events_no_change ON ticket_events")
    op.execute("DROP TRIGGER IF EXISTS tickets_geom_metric ON tickets")
    op.execute("DROP FUNCTION IF EXISTS ticket_events_append_only()")
    op.execute("DROP FUNCTION IF EXISTS tickets_set_geom_metric()")
    op.drop_index(op.f("ix_volunteers_role"), table_name="volunteers")
    op.drop_index(op.f("ix_volunteers_compound_code"), table_name="volunteers")
    op.drop_index(op.f("ix_volunteers_community_code"), table_name="volunteers")
    op.drop_index(op.f("ix_volunteers_cell_code"), table_name="volunteers")
    op.drop_index(op.f("ix_volunteers_building_code"), table_name="volunteers")
    op.drop_table("volunteers")
    op.drop_index(op.f("ix_ticket_events_ticket_id"), table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_index(op.f("ix_tickets_unit_code"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_item_code"), table_name="tickets")
    op.drop_index(
        "ix_tickets_geom_metric_open",
        table_name="tickets",
        postgresql_using="gist",
        postgresql_where=sa.text("status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS')"),
    )
    op.drop_index("ix_tickets_geom_metric", table_name="tickets", postgresql_using="gist")
    op.drop_index("ix_tickets_geom", table_name="tickets", postgresql_using="gist")
    op.drop_index("ix_tickets_created", table_name="tickets")
    op.drop_index(op.f("ix_tickets_compound_code"), table_name="tickets")
    op.drop_index("ix_tickets_community_created", table_name="tickets")
    op.drop_index(op.f("ix_tickets_cell_code"), table_name="tickets")
    op.drop_table("tickets")
    op.drop_index(op.f("ix_property_contracts_compound_code"), table_name="property_contracts")
    op.drop_index(op.f("ix_property_contracts_company_code"), table_name="property_contracts")
    op.drop_table("property_contracts")
    op.drop_index(op.f("ix_facilities_kind"), table_name="facilities")
    op.drop_index("ix_facilities_geom", table_name="facilities", postgresql_using="gist")
    op.drop_index(op.f("ix_facilities_community_code"), table_name="facilities")
    op.drop_table("facilities")
    op.drop_index("ix_buildings_geom", table_name="buildings", postgresql_using="gist")
    op.drop_index(op.f("ix_buildings_compound_code"), table_name="buildings")
    op.drop_index(op.f("ix_buildings_cell_code"), table_name="buildings")
    op.drop_table("buildings")
    op.drop_index(op.f("ix_units_kind"), table_name="units")
    op.drop_table("units")
    op.drop_index("ix_grid_cells_geom", table_name="grid_cells", postgresql_using="gist")
    op.drop_index(op.f("ix_grid_cells_community_code"), table_name="grid_cells")
    op.drop_table("grid_cells")
    op.drop_index("ix_compounds_geom", table_name="compounds", postgresql_using="gist")
    op.drop_index(op.f("ix_compounds_community_code"), table_name="compounds")
    op.drop_table("compounds")
    op.drop_index(op.f("ix_communities_zone_code"), table_name="communities")
    op.drop_index(op.f("ix_communities_street_code"), table_name="communities")
    op.drop_index("ix_communities_geom", table_name="communities", postgresql_using="gist")
    op.drop_table("communities")
    op.drop_index(op.f("ix_zones_street_code"), table_name="zones")
    op.drop_index("ix_zones_geom", table_name="zones", postgresql_using="gist")
    op.drop_table("zones")
    op.drop_table("demand_items")
    op.drop_index("ix_streets_geom", table_name="streets", postgresql_using="gist")
    op.drop_table("streets")
    op.drop_table("demand_categories")
    op.drop_table("dataset_info")
