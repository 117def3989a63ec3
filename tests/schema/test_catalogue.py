"""The responsibility manual in the API: `demandCategories`, `demandItems`, `demandItem`, and
the cooperating units of tickets (`Ticket.cooperatingUnits`), demo and new."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg
import pytest

from db.catalogue import CATALOGUE_CSV, DEADLINES, load_catalogue
from db.labels import UNIT_KIND_NAMES
from tests.conftest import GraphQLClient, Minter

MANUAL = """{ demandCategories { code name nameEn items { code categoryCode } }
  demandItems { code name nameEn categoryCode category { code name }
    leadUnitKind { code name } cooperatingUnitKinds { code name }
    deadlineClass deadlineHours deadlineName legalBasis } }"""
ITEMS_OF = """query ($c: String) { demandItems(categoryCode: $c) { code categoryCode } }"""
ONE_ITEM = """query ($code: String!) { demandItem(code: $code) {
  code leadUnitKind { code } cooperatingUnitKinds { code } deadlineHours } }"""
TICKET = """query ($code: String!) { ticket(code: $code) { code
  responsibleUnit { code } cooperatingUnits { code name kind }
  demandItem { code leadUnitKind { code } cooperatingUnitKinds { code } } } }"""
CREATE = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
  ticket { code responsibleUnit { code } cooperatingUnits { code } } errors { code } } }"""

# Every caller reads the manual alike, the public included.
CALLERS = [(None, ()), ("RESIDENT", ()), ("GRID_WORKER", ("371329001001",)),
           ("SUPERVISOR", ("371329001001C01",)), ("COMMUNITY_STAFF", ("371329001001",)),
           ("STREET_OFFICER", ("371329001",)), ("COUNTY_OFFICE", ()), ("PLANNER", ()),
           ("UNIT", ("U-POWER_COMPANY",))]


@pytest.mark.parametrize(("role", "scopes"), CALLERS)
def test_every_caller_reads_the_whole_manual(gql: GraphQLClient, token: Minter,
                                             role: str | None, scopes: tuple[str, ...]) -> None:
    caller = gql.as_(token(role, *scopes)) if role else gql
    out = caller.data(MANUAL)
    with CATALOGUE_CSV.open(encoding="utf-8", newline="") as f:
        rows = {r["code"]: r for r in csv.DictReader(f)}
    items = out["demandItems"]
    assert [i["code"] for i in items] == [f"P{n:02d}" for n in range(1, 47)] == sorted(rows)
    for item in items:
        row = rows[item["code"]]
        assert (item["name"], item["nameEn"], item["categoryCode"]) == (
            row["item_zh"], row["item_en"], row["category_code"])
        assert item["category"] == {"code": row["category_code"], "name": row["category_zh"]}
        assert item["leadUnitKind"] == {"code": row["lead_unit_kind"],
                                        "name": UNIT_KIND_NAMES[row["lead_unit_kind"]]}
        assert [k["code"] for k in item["cooperatingUnitKinds"]] == \
            row["cooperating_unit_kinds"].split(";")
        assert all(k["name"] and k["name"] != k["code"] for k in item["cooperatingUnitKinds"])
        assert item["deadlineClass"] == row["deadline_class"]
        assert item["deadlineHours"] * 3600 == DEADLINES[row["deadline_class"]].total_seconds()
        assert "《" in item["legalBasis"] and "》" in item["legalBasis"]
    categories = out["demandCategories"]
    assert [c["code"] for c in categories] == ["C1", "C2", "C3", "C4", "C5"]
    assert sum(len(c["items"]) for c in categories) == 46
    assert all(i["categoryCode"] == c["code"] for c in categories for i in c["items"])


def test_the_legal_basis_is_seeded_for_every_item(db: psycopg.Connection) -> None:
    seeded = dict(db.execute("SELECT code, legal_basis FROM demand_items").fetchall())
    assert seeded == {i.code: i.legal_basis for i in load_catalogue()}
    assert all(seeded.values())


def test_an_item_without_a_legal_basis_stops_the_catalogue(tmp_path: Path) -> None:
    basis = tmp_path / "basis.csv"
    basis.write_text("code,legal_basis\nP01,《物业管理条例》\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no legal basis for P02, P03"):
        load_catalogue(basis_path=basis)


def test_items_of_one_category_and_an_unknown_category(gql: GraphQLClient) -> None:
    heating = gql.data(ITEMS_OF, {"c": "C3"})["demandItems"]
    want = [i.code for i in load_catalogue() if i.category_code == "C3"]
    assert [i["code"] for i in heating] == want and want
    err = gql.error(ITEMS_OF, {"c": "C9"})
    assert err["extensions"] == {"code": "NOT_FOUND", "field": "categoryCode"}
    assert "C1" in err["message"] and "C5" in err["message"]


def test_one_item_by_its_code(gql: GraphQLClient) -> None:
    lift = gql.data(ONE_ITEM, {"code": "P11"})["demandItem"]
    assert lift == {"code": "P11", "leadUnitKind": {"code": "PROPERTY_COMPANY"},
                    "cooperatingUnitKinds": [{"code": "MARKET_REGULATION"},
                                             {"code": "FIRE_RESCUE"}],
                    "deadlineHours": 2}
    assert gql.data(ONE_ITEM, {"code": "P47"})["demandItem"] is None


# The cooperating units each demo ticket should carry, routed independently of the generator:
# the item's cooperating kinds at the ticket's place and day, without the lead unit.
EXPECTED_COOPERATING = """
WITH kinds AS (
    SELECT t.id, t.unit_code, CASE k.kind
        WHEN 'PROPERTY_COMPANY' THEN coalesce((
            SELECT pc.company_code FROM property_contracts pc
            WHERE pc.compound_code = t.compound_code
              AND pc.start_date <= (t.created_at AT TIME ZONE 'Asia/Shanghai')::date
              AND (pc.end_date IS NULL
                   OR (t.created_at AT TIME ZONE 'Asia/Shanghai')::date < pc.end_date)
            ORDER BY pc.start_date LIMIT 1), t.community_code)
        WHEN 'COMMUNITY' THEN t.community_code
        WHEN 'STREET' THEN t.street_code
        ELSE 'U-' || k.kind END AS unit
    FROM tickets t JOIN demand_items i ON i.code = t.item_code
    CROSS JOIN LATERAL unnest(i.cooperating_unit_kinds) AS k(kind)
    WHERE t.reporter_subject IS NULL AND t.idempotency_key IS NULL)
SELECT DISTINCT id, unit FROM kinds WHERE unit IS DISTINCT FROM unit_code
"""
SEEDED_COOPERATING = """
SELECT tu.ticket_id, tu.unit_code FROM ticket_units tu JOIN tickets t ON t.id = tu.ticket_id
WHERE tu.role = 'COOPERATING' AND t.reporter_subject IS NULL AND t.idempotency_key IS NULL
"""


def test_demo_tickets_carry_their_cooperating_units(db: psycopg.Connection) -> None:
    expected = set(db.execute(EXPECTED_COOPERATING).fetchall())
    seeded = set(db.execute(SEEDED_COOPERATING).fetchall())
    assert len(expected) > 9000
    assert seeded == expected
    # Only a ticket whose every cooperating unit is its lead has none: outside a compound, the
    # community stands in for the property company and is also the one cooperating unit.
    bare = db.execute("""SELECT count(*), count(*) FILTER (WHERE t.compound_code IS NULL
                                           AND t.unit_code = t.community_code)
        FROM tickets t WHERE t.reporter_subject IS NULL
        AND NOT EXISTS (SELECT 1 FROM ticket_units tu
                        WHERE tu.ticket_id = t.id AND tu.role = 'COOPERATING')""").fetchone()
    assert bare is not None and bare[0] == bare[1] < 100


def test_a_ticket_shows_who_leads_and_who_cooperates(county: GraphQLClient, gql: GraphQLClient,
                                                     token: Minter,
                                                     db: psycopg.Connection) -> None:
    code, lead = db.execute("SELECT code, unit_code FROM tickets WHERE item_code = 'P11' "
                            "AND unit_code LIKE 'PC%%' ORDER BY id LIMIT 1").fetchone()  # type: ignore[misc]
    t = county.data(TICKET, {"code": code})["ticket"]
    assert t["responsibleUnit"] == {"code": lead}
    assert t["cooperatingUnits"] == [
        {"code": "U-FIRE_RESCUE", "name": "县消防救援大队", "kind": "FIRE_RESCUE"},
        {"code": "U-MARKET_REGULATION", "name": "县市场监督管理局", "kind": "MARKET_REGULATION"}]
    assert t["demandItem"]["leadUnitKind"] == {"code": "PROPERTY_COMPANY"}
    # A cooperating unit reads the ticket and finds itself among the cooperating units.
    fire = gql.as_(token("UNIT", "U-FIRE_RESCUE")).data(TICKET, {"code": code})["ticket"]
    assert {"code": "U-FIRE_RESCUE", "name": "县消防救援大队", "kind": "FIRE_RESCUE"} in \
        fire["cooperatingUnits"]
    # A unit on neither side does not see the ticket, nor so its units.
    power = gql.as_(token("UNIT", "U-POWER_COMPANY")).data(TICKET, {"code": code})
    assert power["ticket"] is None


def test_a_new_ticket_carries_its_cooperating_units(gql: GraphQLClient, token: Minter,
                                                    db: psycopg.Connection) -> None:
    lon, lat, community = db.execute(
        "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), community_code "
        "FROM compounds WHERE name = '翡翠星城'").fetchone()  # type: ignore[misc]
    resident = gql.as_(token("RESIDENT", sub="catalogue-resident"))
    out = resident.data(CREATE, {"input": {"point": {"lon": lon, "lat": lat}, "itemCode": "P18",
                                           "description": "消防栓损坏", "channel": "ONLINE"}})
    t = out["createTicket"]["ticket"]
    # P18: the property company leads; the fire brigade and the community cooperate.
    assert t["responsibleUnit"]["code"].startswith("PC")
    assert t["cooperatingUnits"] == [{"code": community}, {"code": "U-FIRE_RESCUE"}]
