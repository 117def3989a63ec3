"""Generates facilities, responsible units, property contracts and volunteers for the demo."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import numpy as np
import shapely
from shapely.geometry import Point, Polygon

from db.demo import names
from db.demo.places import CompoundPlan, Places
from db.demo.timeline import Timeline

STATION_COUNT = 125
CANTEEN_COUNT = 10
CLINIC_COUNT = 12  # about one per 3–4 communities
SERVICE_ROOM_COUNT = 64
RED_COLLAR_SECRETARIES = 19
SUPERVISORS = 110
STATION_KINDS = ("助老", "骑士爱心", "儿童之家", "志愿服务", "党群服务")
# Shares of a compound's residents that decide its station's kind.
ELDERLY_HEAVY, CHILDREN_HEAVY, YOUNG_ELDERLY = 0.225, 0.17, 0.175
# Residents from which a compound's station is a party-and-masses service hub 党群服务 (the
# branch's meeting place as well); smaller ones host volunteer service 志愿服务.
PARTY_HUB_POPULATION = 2_000
# Of the 64 service rooms (about 16,000 m²): idle ones are candidate sites, rented ones bring
# income to the compounds' public accounts (3,000+ m²).
ROOMS_RENTED, ROOMS_IDLE = 12, 16
TOWNSHIP_HOSPITALS = ("临沭街道卫生院", "郑山街道卫生院")
CANTEEN_MODES = ("国企帮扶", "民企合作", "社会组织参与")
# The county departments and utilities the demand catalogue names as lead or cooperating units.
COUNTY_UNITS = {
    "URBAN_MANAGEMENT": "县综合行政执法局",
    "PUBLIC_SECURITY": "县公安局",
    "HOUSING_BUREAU": "县住房和城乡建设局",
    "MARKET_REGULATION": "县市场监督管理局",
    "FIRE_RESCUE": "县消防救援大队",
    "WATER_COMPANY": "县自来水公司",
    "POWER_COMPANY": "国网临沭县供电公司",
    "GAS_COMPANY": "县燃气公司",
    "HEATING_COMPANY": "县热力公司",
    "TELECOM": "县通信运营商联合服务中心",
}
# 华丰现代城's property manager is replaced on this day (the company stays); its monthly tickets
# fall from 26 to 8.
HUAFENG_REPLACED = date(2023, 9, 1)
MANAGERS_REPLACED = 15  # in 2023, 华丰现代城's among them: the bottom ≥ 1% (account)


@dataclass
class FacilityPlan:
    code: str
    name: str
    kind: str
    subtype: str | None
    community_code: str
    compound_code: str | None
    area_m2: float | None
    point: Point
    capacity: int | None = None  # seats (stations, canteens), beds (clinics) or m² (rooms)
    operator: str | None = None
    status: str | None = None  # service rooms: IDLE, IN_USE or RENTED


@dataclass
class ContractPlan:
    compound_code: str
    company_code: str
    manager_name: str
    start_date: date
    end_date: date | None
    annual_fee_receivable: Decimal
    bond_rate: Decimal

    @property
    def bond_amount(self) -> Decimal:
        return (self.annual_fee_receivable * self.bond_rate).quantize(Decimal("0.01"))


@dataclass
class VolunteerPlan:
    code: str
    name: str
    role: str
    party_member: bool
    employer: str | None
    building_code: str | None
    cell_code: str | None
    compound_code: str | None
    community_code: str


def _point_in(rng: random.Random, poly: Polygon) -> Point:
    xmin, ymin, xmax, ymax = poly.bounds
    while True:
        p = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        if poly.contains(p):
            return p


def _gate(compound: CompoundPlan) -> Point:
    """A point just inside the compound's south edge, where stations usually sit."""
    xmin, ymin, xmax, _ = compound.polygon.bounds
    return Point((xmin + xmax) / 2, ymin + 6)


def station_kind(cp: CompoundPlan) -> str:
    """The kind of a compound's station 驿站, by who lives there: elderly-heavy compounds get
    elderly help 助老, many children a children's home 儿童之家, young high-rise compounds
    (where delivery riders rent) rider care 骑士爱心; of the rest, large compounds a party-and-
    masses hub 党群服务 and the others volunteer service 志愿服务."""
    elderly = cp.elderly / cp.population if cp.population else 0.0
    children = cp.children / cp.population if cp.population else 0.0
    if elderly >= ELDERLY_HEAVY:
        return "助老"
    if children >= CHILDREN_HEAVY:
        return "儿童之家"
    high_rise = sum(b.households for b in cp.buildings if b.floors >= 18)
    if elderly < YOUNG_ELDERLY and high_rise * 2 > cp.households:
        return "骑士爱心"
    return "党群服务" if cp.population >= PARTY_HUB_POPULATION else "志愿服务"


def plan_facilities(rng: random.Random, places: Places) -> list[FacilityPlan]:
    out: list[FacilityPlan] = []
    by_size = sorted(places.compounds, key=lambda c: (-c.households, c.code))
    for n, cp in enumerate(sorted(by_size[:STATION_COUNT], key=lambda c: c.code), start=1):
        kind = station_kind(cp)
        out.append(FacilityPlan(f"ST{n:03d}", f"{cp.name}{kind}驿站", "STATION", kind,
                                cp.community_code, cp.code, None, _gate(cp)))
    comms = places.communities
    step = len(comms) / CLINIC_COUNT
    for n in range(CLINIC_COUNT):
        comm = comms[int(n * step + step / 2)]
        out.append(FacilityPlan(f"CL{n + 1:02d}", f"{comm.name}诊疗点", "CLINIC",
                                "24小时药柜", comm.code, None, None,
                                _point_in(rng, comm.polygon.buffer(-40))))
    for n, comm in enumerate(rng.sample(comms, CANTEEN_COUNT), start=1):
        mode = CANTEEN_MODES[n % 3]
        out.append(FacilityPlan(f"CT{n:02d}", f"{comm.name}幸福食堂", "CANTEEN", mode,
                                comm.code, None, None, _point_in(rng, comm.polygon.buffer(-40))))
    rooms = rng.sample(places.compounds, SERVICE_ROOM_COUNT)
    for n, cp in enumerate(sorted(rooms, key=lambda c: c.code), start=1):
        area = round(rng.uniform(135, 405), 1)
        out.append(FacilityPlan(f"SR{n:02d}", f"{cp.name}社服用房", "SERVICE_ROOM", None,
                                cp.community_code, cp.code, area,
                                _point_in(rng, cp.polygon.buffer(-3))))
    return out


def plan_operations(seed: int, places: Places, facilities: list[FacilityPlan]) -> None:
    """Fills capacity, operator and service-room status, with a random stream of its own so
    that every other generated value stays as it was."""
    rng = random.Random(seed * 31 + 7)
    compounds = {cp.code: cp for cp in places.compounds}
    communities = {c.code: c for c in places.communities}
    rooms = [f for f in facilities if f.kind == "SERVICE_ROOM"]
    order = rng.sample(range(len(rooms)), len(rooms))
    status = {rooms[i].code: "RENTED" for i in order[:ROOMS_RENTED]}
    status.update({rooms[i].code: "IDLE" for i in order[ROOMS_RENTED:ROOMS_RENTED + ROOMS_IDLE]})
    for f in facilities:
        if f.kind == "STATION":
            cp = compounds[str(f.compound_code)]
            f.capacity = 10 * round(cp.households / 60 + rng.randint(1, 3))
            f.operator = f"{cp.name}党支部"
        elif f.kind == "CLINIC":
            f.capacity = rng.randint(4, 12)
            f.operator = TOWNSHIP_HOSPITALS[communities[f.community_code].street_index]
        elif f.kind == "CANTEEN":
            f.capacity = 10 * rng.randint(6, 20)
            f.operator = {"国企帮扶": "临沭县城市发展集团", "民企合作": "临沭县福源餐饮有限公司",
                          "社会组织参与": "临沭县社区公益服务中心"}[str(f.subtype)]
        else:
            f.capacity = round(float(f.area_m2 or 0))
            f.operator = f"{compounds[str(f.compound_code)].name}业主委员会"
            f.status = status.get(f.code, "IN_USE")


def plan_units(places: Places) -> list[tuple[str, str, str, str | None, str | None]]:
    """Units as (code, name, kind, community code, street code)."""
    units: list[tuple[str, str, str, str | None, str | None]] = []
    for code, name, _ in places.streets:
        units.append((code, f"{name}办事处", "STREET", None, code))
    for comm in places.communities:
        units.append((comm.code, f"{comm.name}居委会", "COMMUNITY", comm.code, comm.code[:9]))
    for kind, name in COUNTY_UNITS.items():
        units.append((f"U-{kind}", name, kind, None, None))
    units.append(("U-EFFICIENCY_OFFICE", "县作风效能办公室", "COUNTY_OFFICE", None, None))
    for n, name in enumerate(names.PROPERTY_COMPANIES, start=1):
        units.append((f"PC{n:02d}", f"{name}物业服务有限公司", "PROPERTY_COMPANY", None, None))
    return units


def plan_contracts(rng: random.Random, places: Places,
                   timeline: Timeline | None = None) -> list[ContractPlan]:
    """The compounds' property contracts, dated on `timeline` (the canonical one by default)."""
    shift = (timeline or Timeline()).shift
    replaced = shift(HUAFENG_REPLACED)
    companies = [f"PC{n:02d}" for n in range(1, len(names.PROPERTY_COMPANIES) + 1)]
    out: list[ContractPlan] = []
    for cp in places.compounds:
        fee = Decimal(cp.households * rng.choice((840, 960, 1080, 1200)))
        rate = Decimal(rng.choice(("0.050", "0.060", "0.080", "0.100")))
        company = rng.choice(companies)
        if cp.name == "华丰现代城":
            # The company keeps the compound and replaces its manager: the contract is
            # re-signed with the new manager named, and a full 10% bond.
            out.append(ContractPlan(cp.code, company, names.person(rng), shift(date(2019, 1, 1)),
                                    replaced, fee, rate))
            out.append(ContractPlan(cp.code, company, names.person(rng), replaced,
                                    None, fee, Decimal("0.100")))
            continue
        start = shift(date(rng.randrange(2016, 2023), rng.randrange(1, 13), 1))
        out.append(ContractPlan(cp.code, company, names.person(rng), start, None, fee, rate))
    return _replace_managers(out, shift)


def _replace_managers(contracts: list[ContractPlan],
                      shift: Callable[[date], date]) -> list[ContractPlan]:
    """14 more companies replace their manager in a compound during 2023, keeping the
    compound: with 华丰现代城's, the account's 15 replacements of the year. Drawn apart from the
    caller's generator, so nothing else of the demo changes."""
    rng = random.Random(f"{contracts[0].compound_code}-managers-{len(contracts)}")
    current = [i for i, c in enumerate(contracts) if c.end_date is None
               and not any(o.compound_code == c.compound_code and o.end_date is not None
                           for o in contracts)]
    out = list(contracts)
    for i in sorted(rng.sample(current, MANAGERS_REPLACED - 1)):
        old = contracts[i]
        on = shift(date(2023, rng.randrange(2, 13), 1))
        out[i] = replace(old, end_date=on)
        out.append(replace(old, manager_name=names.person(rng), start_date=on))
    return out


def plan_volunteers(rng: random.Random, places: Places) -> list[VolunteerPlan]:
    out: list[VolunteerPlan] = []
    employers = list(COUNTY_UNITS.values()) + ["县委组织部", "县教育和体育局", "县人民医院"]

    def add(role: str, **where: str | None) -> None:
        out.append(VolunteerPlan(
            code=f"V{len(out) + 1:05d}", name=names.person(rng), role=role, party_member=True,
            employer=rng.choice(employers) if role != "GRID_WORKER" else None,
            building_code=where.get("building"), cell_code=where.get("cell"),
            compound_code=where.get("compound"), community_code=str(where["community"]),
        ))

    for cp in places.compounds:
        for b in cp.buildings:
            add("BUILDING_HEAD", building=b.code, cell=b.cell_code, compound=cp.code,
                community=cp.community_code)
    for comm in rng.sample(places.communities, RED_COLLAR_SECRETARIES):
        add("RED_COLLAR_SECRETARY", community=comm.code)
    for cp in rng.sample(places.compounds, SUPERVISORS):
        add("SUPERVISOR", compound=cp.code, community=cp.community_code)
    for cell in places.cells:
        add("GRID_WORKER", cell=cell.code, community=cell.community_code)
    return out


def sample_points(rng: np.random.Generator, poly: Polygon, n: int) -> np.ndarray:
    """`n` uniform random points inside a polygon (metric frame)."""
    xmin, ymin, xmax, ymax = poly.bounds
    chunks: list[np.ndarray] = []
    have = 0
    while have < n:
        cand = rng.uniform((xmin, ymin), (xmax, ymax), size=(max(16, 2 * (n - have)), 2))
        keep = cand[shapely.contains_xy(poly, cand[:, 0], cand[:, 1])][: n - have]
        chunks.append(keep)
        have += len(keep)
    return np.concatenate(chunks) if chunks else np.empty((0, 2))
