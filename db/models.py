"""SQLAlchemy + GeoAlchemy2 models of RedGrid's places, people, units and tickets.

Glossary: street 街道, zone 片区, community 社区, compound 小区, building 楼栋, grid cell 网格,
station 驿站, clinic point 诊疗点, canteen 幸福食堂, service room 社服用房, ticket 工单.

The models describe the schema at the newest migration: 0001 was generated from them, later
migrations are written in SQL, and `tests/db/test_migrations.py` runs Alembic's comparison
against a migrated database so that the two cannot drift apart (an autogenerate would
otherwise propose dropping live tables). The models serve Alembic only: runtime queries are
SQL through psycopg (`db/queries/`), and the demo loader (`db/demo/`) and the place import
write SQL too.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.committees import ROLES as COMMITTEE_ROLES
from db.committees import VETTING_OUTCOMES
from db.duty import TIERS as DUTY_TIERS
from db.vocabulary import CHANNELS, LEVELS, OPEN_STATUSES, TICKET_STATUSES
from geo.types import SRID_METRIC, SRID_WGS84

FACILITY_KINDS = ("STATION", "CLINIC", "CANTEEN", "SERVICE_ROOM")
ROAD_KINDS = ("PRIMARY", "SECONDARY", "MINOR")
WATER_KINDS = ("RIVER", "CANAL", "POND")
SERVICE_ROOM_STATUSES = ("IDLE", "IN_USE", "RENTED")
VOLUNTEER_ROLES = ("BUILDING_HEAD", "RED_COLLAR_SECRETARY", "SUPERVISOR", "GRID_WORKER")
DEADLINE_CLASSES = ("EMERGENCY_2H", "UTILITY_24H", "GENERAL_7D", "COMPLEX_15D")
REJECT_REASONS = ("DUPLICATE", "OUT_OF_SCOPE", "INVALID")
UNIT_ROLES = ("LEAD", "COOPERATING")
SERVICE_KINDS = ("TICKET", "ACTIVITY", "MISSED_CALLUP")
LEDGER_KINDS = ("DEPOSIT", "DRAWDOWN", "TOPUP")
NOTIFICATION_KINDS = ("DISPATCHED", "DUE_SOON", "ESCALATED")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _valid(column: str = "geom") -> CheckConstraint:
    return CheckConstraint(f"ST_IsValid({column})", name=f"{column}_valid")


def polygon(srid: int = SRID_WGS84) -> Geometry:
    return Geometry("POLYGON", srid=srid, spatial_index=False)


def multipolygon() -> Geometry:
    return Geometry("MULTIPOLYGON", srid=SRID_WGS84, spatial_index=False)


def point(srid: int = SRID_WGS84) -> Geometry:
    return Geometry("POINT", srid=srid, spatial_index=False)


def gist(table: str, column: str = "geom", **kw: Any) -> Index:
    return Index(f"ix_{table}_{column}", column, postgresql_using="gist", **kw)


class Base(DeclarativeBase):
    pass


class DatasetInfo(Base):
    """Key/value facts about the loaded data, e.g. that the demo data is synthetic."""

    __tablename__ = "dataset_info"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Street(Base):
    """A street 街道: the administrative unit above communities."""

    __tablename__ = "streets"
    code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    geom = mapped_column(multipolygon(), nullable=False)
    __table_args__ = (_valid(), gist("streets"))


class Road(Base):
    """A road 道路 of the base map, drawn under the places: a primary or secondary road along
    community boundaries, or a minor lane into a compound."""

    __tablename__ = "roads"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(Geometry("MULTILINESTRING", srid=SRID_WGS84, spatial_index=False),
                         nullable=False)
    __table_args__ = (CheckConstraint(_in("kind", ROAD_KINDS), name="road_kind"), _valid(),
                      gist("roads"))


class Water(Base):
    """A water area 水系 of the base map: the 沭河 beside the town, canals and ponds."""

    __tablename__ = "waters"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    geom = mapped_column(multipolygon(), nullable=False)
    __table_args__ = (CheckConstraint(_in("kind", WATER_KINDS), name="water_kind"), _valid(),
                      gist("waters"))


class Zone(Base):
    """A zone 片区 led by a zone party committee; lies within one street."""

    __tablename__ = "zones"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"), index=True)
    secretary_name: Mapped[str] = mapped_column(String(32))
    geom = mapped_column(multipolygon(), nullable=False)
    __table_args__ = (_valid(), gist("zones"))


class Community(Base):
    """An urban community 社区."""

    __tablename__ = "communities"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"), index=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"), index=True)
    households: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(polygon(), nullable=False)
    __table_args__ = (_valid(), gist("communities"))


class GridCell(Base):
    """A grid cell 网格 of 300–500 households with a 15-digit GB/T 30428 code."""

    __tablename__ = "grid_cells"
    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    households: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(polygon(), nullable=False)
    __table_args__ = (
        _valid(),
        gist("grid_cells"),
        CheckConstraint("code ~ '^[0-9]{15}$'", name="code_digits"),
    )


class Compound(Base):
    """A residential compound 小区, with its resident mix (elderly 60+, children 0–14) and its
    demand point: ST_PointOnSurface of the outline, in EPSG:4549."""

    __tablename__ = "compounds"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    households: Mapped[int] = mapped_column(Integer)
    population: Mapped[int] = mapped_column(Integer)
    elderly: Mapped[int] = mapped_column(Integer, server_default="0")
    children: Mapped[int] = mapped_column(Integer, server_default="0")
    geom = mapped_column(polygon(), nullable=False)
    center_metric = mapped_column(
        point(SRID_METRIC),
        Computed(f"ST_Transform(ST_PointOnSurface(geom), {SRID_METRIC})", persisted=True))
    __table_args__ = (
        _valid(), _valid("center_metric"), gist("compounds"), gist("compounds", "center_metric"),
        CheckConstraint("elderly + children <= population", name="resident_mix"),
        CheckConstraint("elderly >= 0", name="elderly_nonnegative"),
        CheckConstraint("children >= 0", name="children_nonnegative"),
    )


class Building(Base):
    """A residential building 楼栋 in a compound, with one building head 楼栋长."""

    __tablename__ = "buildings"
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    compound_code: Mapped[str] = mapped_column(ForeignKey("compounds.code"), index=True)
    cell_code: Mapped[str] = mapped_column(ForeignKey("grid_cells.code"), index=True)
    floors: Mapped[int] = mapped_column(Integer)
    households: Mapped[int] = mapped_column(Integer)
    geom = mapped_column(polygon(), nullable=False)
    __table_args__ = (_valid(), gist("buildings"))


class Unit(Base):
    """A responsible unit: community, street, county department, utility or property company."""

    __tablename__ = "units"
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    community_code: Mapped[str | None] = mapped_column(ForeignKey("communities.code"))
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"))


class PropertyContract(Base):
    """A property company's contract for a compound, with its performance bond."""

    __tablename__ = "property_contracts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    compound_code: Mapped[str] = mapped_column(ForeignKey("compounds.code"), index=True)
    company_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    manager_name: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    annual_fee_receivable: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    bond_rate: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    bond_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    bond_balance: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # 0002
    __table_args__ = (
        CheckConstraint("bond_rate BETWEEN 0.05 AND 0.10", name="bond_rate_range"),
        CheckConstraint("end_date IS NULL OR end_date > start_date", name="dates_ordered"),
        CheckConstraint("bond_balance >= 0", name="bond_balance_non_negative"),
    )


class DemandCategory(Base):
    """One of the 5 major categories of the property-domain responsibility manual."""

    __tablename__ = "demand_categories"
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(32))
    name_en: Mapped[str] = mapped_column(String(64))


class DemandItem(Base):
    """One of the 46 demand items, with who leads, who cooperates and its deadline class."""

    __tablename__ = "demand_items"
    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("demand_categories.code"))
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    lead_unit_kind: Mapped[str] = mapped_column(String(32))
    cooperating_unit_kinds: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    deadline_class: Mapped[str] = mapped_column(String(16))
    legal_basis: Mapped[str] = mapped_column(Text, server_default=text("''"))  # 0012
    __table_args__ = (CheckConstraint(_in("deadline_class", DEADLINE_CLASSES), name="deadline"),)


class Facility(Base):
    """A service facility: station 驿站, clinic point, canteen or service room 社服用房, with its
    capacity (seats, beds or m²), operator and, for service rooms, status."""

    __tablename__ = "facilities"
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), index=True)
    subtype: Mapped[str | None] = mapped_column(String(32))
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    compound_code: Mapped[str | None] = mapped_column(ForeignKey("compounds.code"))
    area_m2: Mapped[float | None] = mapped_column(Numeric(10, 1))
    capacity: Mapped[int | None] = mapped_column(Integer)
    operator: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(8))
    geom = mapped_column(point(), nullable=False)
    geom_metric = mapped_column(point(SRID_METRIC),
                                Computed(f"ST_Transform(geom, {SRID_METRIC})", persisted=True))
    __table_args__ = (
        _valid(),
        _valid("geom_metric"),
        gist("facilities"),
        gist("facilities", "geom_metric"),
        CheckConstraint(_in("kind", FACILITY_KINDS), name="kind"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint(f"status IS NULL OR (kind = 'SERVICE_ROOM' AND "
                        f"{_in('status', SERVICE_ROOM_STATUSES)})", name="status"),
    )


class Volunteer(Base):
    """A party-member volunteer bound to a place: building head, secretary, supervisor, worker."""

    __tablename__ = "volunteers"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(24), index=True)
    party_member: Mapped[bool] = mapped_column(Boolean)
    employer: Mapped[str | None] = mapped_column(String(64))
    building_code: Mapped[str | None] = mapped_column(ForeignKey("buildings.code"), index=True)
    cell_code: Mapped[str | None] = mapped_column(ForeignKey("grid_cells.code"), index=True)
    compound_code: Mapped[str | None] = mapped_column(ForeignKey("compounds.code"), index=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    __table_args__ = (CheckConstraint(_in("role", VOLUNTEER_ROLES), name="role"),)


class Ticket(Base):
    """A resident's demand, a ticket 工单, tied to the grid cell that contains its point."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    item_code: Mapped[str] = mapped_column(ForeignKey("demand_items.code"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(12), server_default="COMMUNITY")
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    geom = mapped_column(point(), nullable=False)
    geom_metric = mapped_column(point(SRID_METRIC), nullable=False)
    cell_code: Mapped[str] = mapped_column(ForeignKey("grid_cells.code"), index=True)
    compound_code: Mapped[str | None] = mapped_column(ForeignKey("compounds.code"), index=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"))
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"))
    street_code: Mapped[str] = mapped_column(ForeignKey("streets.code"))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    idempotency_caller: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # The workflow (0002).
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(String(16))
    reporter_subject: Mapped[str | None] = mapped_column(String(128), index=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # H3 cells at resolutions 8 and 9, for the heat map (0005).
    h3_9: Mapped[int | None] = mapped_column(BigInteger)
    h3_8: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        _valid(),
        _valid("geom_metric"),
        gist("tickets"),
        gist("tickets", "geom_metric"),
        Index(
            "ix_tickets_geom_metric_open", "geom_metric", postgresql_using="gist",
            postgresql_where=text(_in("status", OPEN_STATUSES)),
        ),
        Index("ix_tickets_created", text("created_at DESC"), text("id DESC")),
        Index("ix_tickets_community_created", "community_code", text("created_at DESC")),
        UniqueConstraint("idempotency_caller", "idempotency_key", name="uq_tickets_idempotency"),
        CheckConstraint(_in("status", TICKET_STATUSES), name="status"),
        CheckConstraint(_in("level", LEVELS), name="level"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("due_at > created_at", name="due_after_created"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint(_in("reject_reason", REJECT_REASONS), name="reject_reason"),
        Index("ix_tickets_open_due", "due_at", postgresql_where=text(_in("status", OPEN_STATUSES))),
        Index("ix_tickets_resolved_at", "resolved_at", postgresql_where=text("status = 'RESOLVED'")),
        Index("ix_tickets_created_cells", "created_at",
              postgresql_include=["cell_code", "h3_8", "h3_9", "item_code", "status"]),
    )


class TicketEvent(Base):
    """An append-only event in a ticket's history."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(128))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class PatrolVisit(Base):
    """A patrol visit 巡查 by a grid worker or supervisor (0013): where and when, the building,
    what was found (null: nothing) and the ticket filed for it; once per worker and key."""

    __tablename__ = "patrol_visits"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str] = mapped_column(String(128))
    cell_code: Mapped[str] = mapped_column(ForeignKey("grid_cells.code"))
    compound_code: Mapped[str | None] = mapped_column(ForeignKey("compounds.code"))
    building_code: Mapped[str | None] = mapped_column(ForeignKey("buildings.code"))
    geom = mapped_column(point(), nullable=False)
    findings: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        UniqueConstraint("worker", "idempotency_key", name="uq_patrol_visits_idempotency"),
        Index("ix_patrol_visits_cell_at", "cell_code", "at"),
        _valid(),
        gist("patrol_visits"),
    )


class TicketUnit(Base):
    """A unit on a ticket: its lead unit or a cooperating one."""

    __tablename__ = "ticket_units"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True)
    role: Mapped[str] = mapped_column(String(12))
    __table_args__ = (
        CheckConstraint(_in("role", UNIT_ROLES), name="role"),
        Index("ix_ticket_units_unit", "unit_code", "ticket_id"),
    )


class TicketCosigner(Base):
    """A resident who co-signed an open ticket (once each), raising its priority."""

    __tablename__ = "ticket_cosigners"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    subject: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("ticket_id", "subject", name="uq_ticket_cosigner"),)


class UnitReferral(Base):
    """A unit referred to the county efficiency office, with the tickets that caused it."""

    __tablename__ = "unit_referrals"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ticket_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    __table_args__ = (UniqueConstraint("unit_code", "ticket_ids", name="uq_unit_referral"),)


class VolunteerService(Base):
    """A volunteer's service record: a ticket handled, an activity, or a missed call-up."""

    __tablename__ = "volunteer_services"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    volunteer_code: Mapped[str] = mapped_column(ForeignKey("volunteers.code"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(128))
    __table_args__ = (
        CheckConstraint(_in("kind", SERVICE_KINDS), name="kind"),
        Index("ix_volunteer_services_volunteer", "volunteer_code", "at"),
    )


class VolunteerYearRecord(Base):
    """A member's year under the duty rule, as reported to their employer (0012)."""

    __tablename__ = "volunteer_year_records"
    volunteer_code: Mapped[str] = mapped_column(ForeignKey("volunteers.code"), primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"))
    employer: Mapped[str | None] = mapped_column(String(64))
    participations: Mapped[int] = mapped_column(Integer)
    misses: Mapped[int] = mapped_column(Integer)
    longest_miss_run: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(16))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reported_by: Mapped[str] = mapped_column(String(128))
    __table_args__ = (
        CheckConstraint(_in("tier", DUTY_TIERS), name="duty_tier"),
        CheckConstraint("participations >= 0 AND misses >= 0 "
                        "AND longest_miss_run BETWEEN 0 AND misses", name="year_record_counts"),
        Index("ix_volunteer_year_records_year_community", "year", "community_code"),
        Index("ix_volunteer_year_records_year_employer", "year", "employer"),
    )


class OwnersCommittee(Base):
    """A compound's owners' committee 业委会 for one term (0012); the newest term sits."""

    __tablename__ = "owners_committees"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    compound_code: Mapped[str] = mapped_column(ForeignKey("compounds.code"))
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    elected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    elected_by: Mapped[str] = mapped_column(String(128))
    __table_args__ = (
        CheckConstraint("term_end > term_start AND term_end <= term_start + interval '5 years'",
                        name="committee_term"),
        UniqueConstraint("compound_code", "term_start", name="uq_owners_committee_term"),
    )


class CommitteeMember(Base):
    """A member of an owners' committee: role, party membership, a seat on the community's
    two committees 两委, and removal by the negative list (0012)."""

    __tablename__ = "committee_members"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("owners_committees.id"))
    name: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(12))
    party_member: Mapped[bool] = mapped_column(Boolean)
    on_community_committees: Mapped[bool] = mapped_column(Boolean)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_for: Mapped[str | None] = mapped_column(String(4))
    __table_args__ = (
        CheckConstraint(_in("role", COMMITTEE_ROLES), name="member_role"),
        CheckConstraint("(removed_at IS NULL) = (removed_for IS NULL)", name="member_removal"),
        Index("ix_committee_members_committee", "committee_id"),
        Index("uq_committee_members_one_chair", "committee_id", unique=True,
              postgresql_where=text("role = 'CHAIR' AND removed_at IS NULL")),
    )


class CommitteeVetting(Base):
    """A member vetted 审查 against the negative list; any item hit removes them (0012)."""

    __tablename__ = "committee_vettings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("committee_members.id"))
    vetted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    negative_items: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    outcome: Mapped[str] = mapped_column(String(8))
    vetted_by: Mapped[str] = mapped_column(String(128))
    __table_args__ = (
        CheckConstraint(f"{_in('outcome', VETTING_OUTCOMES)} "
                        "AND (outcome = 'REMOVED') = (cardinality(negative_items) > 0)",
                        name="vetting_outcome"),
        Index("ix_committee_vettings_member", "member_id", "vetted_at"),
    )


class SupervisorFinding(Base):
    """A problem a compound supervisor 小区监督员 found and pushed the property company under
    contract to fix (0012)."""

    __tablename__ = "supervisor_findings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    supervisor_code: Mapped[str] = mapped_column(ForeignKey("volunteers.code"))
    compound_code: Mapped[str] = mapped_column(ForeignKey("compounds.code"))
    company_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint("resolved_at IS NULL OR resolved_at >= found_at",
                        name="finding_resolved_after"),
        Index("ix_supervisor_findings_compound_found", "compound_code", "found_at"),
    )


class Summons(Base):
    """A summons 约谈 of a property company or another unit, with why (0012)."""

    __tablename__ = "summons"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    summoned_by: Mapped[str] = mapped_column(String(128))
    __table_args__ = (Index("ix_summons_at", "at"),)


class BondLedgerEntry(Base):
    """A movement of a property contract's performance bond; the balance never goes negative."""

    __tablename__ = "bond_ledger"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("property_contracts.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(12))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    balance_after: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    actor: Mapped[str] = mapped_column(String(128))
    __table_args__ = (
        CheckConstraint(_in("kind", LEDGER_KINDS), name="kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("balance_after >= 0", name="balance_non_negative"),
        Index("ix_bond_ledger_contract", "contract_id", "id"),
    )


class UnitWebhook(Base):
    """Where a unit's notifications are POSTed, and the secret they are signed with."""

    __tablename__ = "unit_webhooks"
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))


class OutboxDelivery:
    """The delivery state every outbox row keeps (db/queries/outbox.py): attempts counted and
    leased, the next one after a backoff, delivered once."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class Notification(OutboxDelivery, Base):
    """A notification to a unit (the outbox of its webhook), once per unit and dedupe key."""

    __tablename__ = "notifications"
    id: Mapped[Any] = mapped_column(UUID, primary_key=True, server_default=text("gen_random_uuid()"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(JSONB)
    __table_args__ = (
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
        UniqueConstraint("unit_code", "dedupe_key", name="uq_notification"),
        Index("ix_notifications_pending", "next_attempt_at",
              postgresql_where=text("delivered_at IS NULL")),
    )


PUSH_TICKET_KEYS = ("cell", "compound")


class PushSubscription(Base):
    """A phone's Web Push subscription (0016): its push service endpoint and keys, and whose it
    is: the caller's subject, role and scope codes, matched against a ticket's cell (or its
    compound, for a supervisor)."""

    __tablename__ = "push_subscriptions"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    endpoint: Mapped[str] = mapped_column(Text)
    p256dh: Mapped[str] = mapped_column(Text)
    auth: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(24))
    ticket_key: Mapped[str] = mapped_column(String(8))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    renewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("endpoint", name="uq_push_subscription_endpoint"),
        CheckConstraint(_in("ticket_key", PUSH_TICKET_KEYS), name="push_subscription_ticket_key"),
    )


class PushMessage(OutboxDelivery, Base):
    """A push message to one subscription about one notification (0016), once per
    subscription and dedupe key; its id stays the same across retries."""

    __tablename__ = "push_messages"
    id: Mapped[Any] = mapped_column(UUID, primary_key=True, server_default=text("gen_random_uuid()"))
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="push_message_kind"),
        UniqueConstraint("subscription_id", "dedupe_key", name="uq_push_message"),
        Index("ix_push_messages_pending", "next_attempt_at",
              postgresql_where=text("delivered_at IS NULL")),
    )


class PersonalDataAccess(Base):
    """One unmasked read of a ticket's reporter fields (0003): who, as what, which fields."""

    __tablename__ = "personal_data_access"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    subject: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(24))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))
    __table_args__ = (
        Index("ix_personal_data_access_at", "at"),
        Index("ix_personal_data_access_ticket", "ticket_id"),
    )


class Open311Client(Base):
    """An application that speaks Open311 GeoReport v2 (0009): its role, scope and filing
    channel. Only the SHA-256 of its `api_key` is kept; the key is shown once, at creation."""

    __tablename__ = "open311_clients"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(24))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    channel: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    __table_args__ = (CheckConstraint(_in("channel", CHANNELS), name="open311_client_channel"),)


class Open311Request(Base):
    """What an Open311 client sent with a ticket beyond the ticket itself (0009): where the
    resident said it was, a photo link, the device and account, contact e-mail, attributes."""

    __tablename__ = "open311_requests"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("open311_clients.id"))
    address_string: Mapped[str | None] = mapped_column(Text)
    media_url: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(128))
    account_id: Mapped[str | None] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
    attributes: Mapped[Any] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    __table_args__ = (Index("ix_open311_requests_client", "client_id", "ticket_id"),)


SOCIAL_ORGANISATION_KINDS = ("COMMUNITY", "EXTERNAL")
SOCIAL_FIELDS = ("ELDERLY", "CHILDREN", "DISABILITY", "CULTURE", "MEDIATION", "HEALTH",
                 "VOLUNTEERING")
ROOM_USES = ("USE", "RENT")
ROOM_APPLICATION_STATUSES = ("APPLIED", "REVIEWED", "APPROVED", "REJECTED")


class SocialOrganisation(Base):
    """A social organisation 社会组织 (0014): one rooted in a community, or a professional one
    brought in from outside, with the field it works in."""

    __tablename__ = "social_organisations"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(12))
    field: Mapped[str] = mapped_column(String(16))
    home_community_code: Mapped[str | None] = mapped_column(ForeignKey("communities.code"))
    since: Mapped[date] = mapped_column(Date)
    __table_args__ = (
        CheckConstraint(_in("kind", SOCIAL_ORGANISATION_KINDS), name="social_organisation_kind"),
        CheckConstraint(_in("field", SOCIAL_FIELDS), name="social_organisation_field"),
        CheckConstraint("(kind = 'COMMUNITY') = (home_community_code IS NOT NULL)",
                        name="social_organisation_home"),
    )


class SocialOrganisationCommunity(Base):
    """A community a social organisation serves (0014)."""

    __tablename__ = "social_organisation_communities"
    organisation_code: Mapped[str] = mapped_column(ForeignKey("social_organisations.code"),
                                                   primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), primary_key=True)
    __table_args__ = (Index("ix_social_organisation_communities_community", "community_code"),)


class MarketFair(Base):
    """One market fair 万市大集 held for a group of neighbouring communities (0014)."""

    __tablename__ = "market_fairs"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    held_on: Mapped[date] = mapped_column(Date, index=True)
    venue_compound_code: Mapped[str] = mapped_column(ForeignKey("compounds.code"))
    community_codes: Mapped[list[str]] = mapped_column(ARRAY(String(12)))
    stalls: Mapped[int] = mapped_column(Integer)
    attendance: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint("cardinality(community_codes) BETWEEN 1 AND 6", name="market_fair_group"),
        CheckConstraint("stalls >= 0 AND attendance >= 0", name="market_fair_counts"),
    )


class ServiceRoomRent(Base):
    """A service room's 社服用房 rent income in one month, paid to the compound's public
    account (0014)."""

    __tablename__ = "service_room_rents"
    room_code: Mapped[str] = mapped_column(ForeignKey("facilities.code"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    income: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    __table_args__ = (
        CheckConstraint("extract(day FROM month) = 1", name="service_room_rent_month"),
        CheckConstraint("income >= 0", name="service_room_rent_income"),
    )


class ServiceRoomApplication(Base):
    """An application to use or rent a service room (0014): the owners' committee applies, the
    community party organisation reviews, the street approves."""

    __tablename__ = "service_room_applications"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    room_code: Mapped[str] = mapped_column(ForeignKey("facilities.code"), index=True)
    use: Mapped[str] = mapped_column(String(8))
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(_in("use", ROOM_USES), name="service_room_application_use"),
        CheckConstraint(_in("status", ROOM_APPLICATION_STATUSES),
                        name="service_room_application_status"),
    )


class ServiceRoomApplicationEvent(Base):
    """A step of a service-room application (0014)."""

    __tablename__ = "service_room_application_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("service_room_applications.id"),
                                                index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)


CADRE_POSTS = ("SECRETARY", "DIRECTOR", "DEPUTY_SECRETARY", "DEPUTY_DIRECTOR", "MEMBER")
CADRE_RULE_KINDS = ("DEDUCTION", "SUSPENSION", "CHECK")


class Cadre(Base):
    """An elected community cadre 社区干部 of the two committees 两委 (0015)."""

    __tablename__ = "cadres"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    post: Mapped[str] = mapped_column(String(16))
    party_member: Mapped[bool] = mapped_column(Boolean)
    elected_on: Mapped[date] = mapped_column(Date)
    __table_args__ = (CheckConstraint(_in("post", CADRE_POSTS), name="cadre_post"),)


class CadreRule(Base):
    """A management rule for cadres as data (0015): a kind of pay deduction, of suspension or
    dismissal, or the yearly political check."""

    __tablename__ = "cadre_rules"
    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    name_zh: Mapped[str] = mapped_column(String(64))
    __table_args__ = (CheckConstraint(_in("kind", CADRE_RULE_KINDS), name="cadre_rule_kind"),)


class CadreCase(Base):
    """A case decided under a rule (0015)."""

    __tablename__ = "cadre_cases"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    cadre_code: Mapped[str] = mapped_column(ForeignKey("cadres.code"), index=True)
    rule_code: Mapped[str] = mapped_column(ForeignKey("cadre_rules.code"))
    decided_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class CadreCheck(Base):
    """A cadre's political check 政治体检 of one year (0015)."""

    __tablename__ = "cadre_checks"
    cadre_code: Mapped[str] = mapped_column(ForeignKey("cadres.code"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    checked_on: Mapped[date] = mapped_column(Date)
    passed: Mapped[bool] = mapped_column(Boolean)


class CadreTraining(Base):
    """A training trip of cadres (0015)."""

    __tablename__ = "cadre_trainings"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    started_on: Mapped[date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    cadre_codes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    __table_args__ = (CheckConstraint("days BETWEEN 1 AND 60", name="cadre_training_days"),)


class CadreMentorship(Base):
    """An experienced secretary mentoring a new one 以老带新 (0015)."""

    __tablename__ = "cadre_mentorships"
    mentor_code: Mapped[str] = mapped_column(ForeignKey("cadres.code"), primary_key=True)
    mentee_code: Mapped[str] = mapped_column(ForeignKey("cadres.code"), primary_key=True)
    since: Mapped[date] = mapped_column(Date)
    __table_args__ = (CheckConstraint("mentor_code <> mentee_code",
                                      name="cadre_mentorship_pair"),)


ZONE_STAFF_POSTS = ("SECRETARY", "DEPUTY_SECRETARY", "COORDINATOR", "GRID_LEAD")


class ZoneStaff(Base):
    """A member of a zone 片区's staff: its party secretary, deputy, coordinators and grid
    leads (0015)."""

    __tablename__ = "zone_staff"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    zone_code: Mapped[str] = mapped_column(ForeignKey("zones.code"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    post: Mapped[str] = mapped_column(String(16))
    __table_args__ = (CheckConstraint(_in("post", ZONE_STAFF_POSTS), name="zone_staff_post"),)


class AssessmentWeight(Base):
    """A component of the community scorecard and its weight (0015): the one table of them."""

    __tablename__ = "assessment_weights"
    component: Mapped[str] = mapped_column(String(24), primary_key=True)
    weight: Mapped[Decimal] = mapped_column(Numeric(4, 3))
    name_zh: Mapped[str] = mapped_column(String(32))
    __table_args__ = (CheckConstraint("weight >= 0 AND weight <= 1",
                                      name="assessment_weight_range"),)


class TicketPhoto(Base):
    """A photo on a ticket (0011), with the step (event) it came with; the bytes and the
    thumbnail's are in the media store under their SHA-256 (`db/media.py`)."""

    __tablename__ = "ticket_photos"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    thumb_sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)
    uploaded_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("media_type IN ('image/jpeg', 'image/webp')",
                        name="ticket_photo_media_type"),
        Index("ix_ticket_photos_ticket", "ticket_id", "id"),
    )
