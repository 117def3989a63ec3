"""Reporter name and phone: masked outside the caller's scope, logged when shown unmasked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from resolvers.actor import Actor, Role
from resolvers.personal_data import mask_name, mask_phone
from schema.personal_data import reporter_field
from tests.conftest import GraphQLClient, Minter

CENTRE = {"lon": 118.657, "lat": 34.918}
COMMUNITY = "371329001017"  # the community around the centre point
OTHER_COMMUNITY = "371329001001"

CREATE = """mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
  ticket { code reporterName reporterPhone } errors { code } } }"""
ONE = """query ($code: String!) { ticket(code: $code) { code reporterName reporterPhone } }"""
TWICE = """query ($code: String!) { ticket(code: $code) {
  a: reporterName b: reporterName reporterPhone } }"""
NEARBY = """query ($p: PointInput!) { nearbyTickets(point: $p, radiusM: 300, first: 5) {
  ticket { code reporterName reporterPhone } } }"""
PAGE = """query { tickets(first: 20) { edges { node { code reporterName reporterPhone } } } }"""
COSIGN = """mutation ($code: String!) { cosignTicket(code: $code) {
  ticket { code reporterName reporterPhone } errors { code } } }"""
LOG = """query ($first: Int, $after: String, $subject: String, $ticketCode: String) {
  personalDataAccess(first: $first, after: $after, subject: $subject, ticketCode: $ticketCode) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { at subject role ticketCode fields } } } }"""


def _input(name: str, phone: str, point: dict[str, float] = CENTRE) -> dict[str, Any]:
    return {"input": {"point": point, "itemCode": "P12", "description": "楼道灯坏了",
                      "channel": "ONLINE", "reporterName": name, "reporterPhone": phone}}


def _log_rows(db: psycopg.Connection, code: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT l.subject, l.role, l.fields, l.at FROM personal_data_access l "
        "JOIN tickets t ON t.id = l.ticket_id WHERE t.code = %s ORDER BY l.id",
        (code,)).fetchall()


def _create(county: GraphQLClient, name: str, phone: str) -> str:
    """Files a ticket at the centre point, without reading its reporter fields back."""
    body = county.data("""mutation ($input: CreateTicketInput!) { createTicket(input: $input) {
      ticket { code } errors { code } } }""", _input(name, phone))
    code: str = body["createTicket"]["ticket"]["code"]
    return code


@pytest.mark.parametrize(("name", "masked"), [
    ("张伟", "张**"), ("欧阳娜娜", "欧**"), ("张", "*"), ("", ""), (None, None),
    ("John Smith", "J**"),
])
def test_masking_a_name(name: str | None, masked: str | None) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(("phone", "masked"), [
    ("13812341234", "138****1234"), ("138 1234 5678", "138****5678"),
    ("+86 139-0000-1234", "861****1234"), ("12345678", "123****5678"),
    ("1234567", "*******"), ("5-678", "*****"), (None, None),
])
def test_masking_a_phone(phone: str | None, masked: str | None) -> None:
    assert mask_phone(phone) == masked


def test_a_grid_worker_of_the_cell_reads_unmasked_and_is_logged(
        county: GraphQLClient, gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    code = _create(county, "卫青山", "13800001111")
    worker = gql.as_(token("GRID_WORKER", COMMUNITY, sub="pd-worker-in"))
    before = datetime.now(UTC)

    ticket = worker.data(ONE, {"code": code})["ticket"]

    assert (ticket["reporterName"], ticket["reporterPhone"]) == ("卫青山", "13800001111")
    [(subject, role, fields, at)] = _log_rows(db, code)
    assert (subject, role, sorted(fields)) == ("pd-worker-in", "GRID_WORKER",
                                              ["reporterName", "reporterPhone"])
    assert before - timedelta(seconds=5) <= at <= datetime.now(UTC) + timedelta(seconds=5)


def test_one_log_row_per_ticket_and_request(county: GraphQLClient, gql: GraphQLClient,
                                            token: Minter, db: psycopg.Connection) -> None:
    code = _create(county, "卫青林", "13800002222")
    worker = gql.as_(token("GRID_WORKER", COMMUNITY, sub="pd-worker-twice"))

    ticket = worker.data(TWICE, {"code": code})["ticket"]

    assert ticket == {"a": "卫青林", "b": "卫青林", "reporterPhone": "13800002222"}
    assert len(_log_rows(db, code)) == 1


def test_ticket_rows_from_nearby_tickets_are_unmasked_and_logged(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    worker = gql.as_(token("GRID_WORKER", COMMUNITY, sub="pd-worker-nearby"))

    hits = worker.data(NEARBY, {"p": CENTRE})["nearbyTickets"]

    assert hits
    for hit in hits:
        t = hit["ticket"]
        name, phone = db.execute("SELECT reporter_name, reporter_phone FROM tickets "
                                 "WHERE code = %s", (t["code"],)).fetchone()  # type: ignore[misc]
        assert (t["reporterName"], t["reporterPhone"]) == (name, phone)
        if name or phone:
            assert any(r[0] == "pd-worker-nearby" for r in _log_rows(db, t["code"]))


def test_an_out_of_scope_grid_worker_files_nothing_and_sees_no_reporter(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection) -> None:
    worker = gql.as_(token("GRID_WORKER", OTHER_COMMUNITY, sub="pd-worker-out"))
    patrol = _input("卫青原", "13800003333")
    patrol["input"]["channel"] = "GRID_PATROL"

    body = worker(CREATE, patrol)

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    text = json.dumps(body, ensure_ascii=False)
    assert "卫青原" not in text and "13800003333" not in text
    assert db.execute("SELECT count(*) FROM tickets WHERE reporter_name = '卫青原'"
                      ).fetchone() == (0,)


def test_null_stays_null(county: GraphQLClient, gql: GraphQLClient, token: Minter,
                         db: psycopg.Connection) -> None:
    body = county.data(CREATE, {"input": {**_input("x", "1")["input"], "reporterName": None,
                                          "reporterPhone": None}})
    ticket = body["createTicket"]["ticket"]
    assert (ticket["reporterName"], ticket["reporterPhone"]) == (None, None)
    neighbour = gql.as_(token("RESIDENT", sub="pd-null-neighbour"))
    neighbour.data(CREATE, _input("邻居", "13900001111"))  # the same matter, reported nearby
    cosigned = neighbour.data(COSIGN, {"code": ticket["code"]})["cosignTicket"]
    assert cosigned == {"ticket": None, "errors": []}  # co-signed, but not theirs to see
    again = county.data(ONE, {"code": ticket["code"]})["ticket"]
    assert (again["reporterName"], again["reporterPhone"]) == (None, None)
    assert _log_rows(db, ticket["code"]) == []


@pytest.fixture(scope="module")
def demo_ticket(db: psycopg.Connection) -> Any:
    """A demo ticket near the centre with a compound, a lead unit and a cooperating unit."""
    row = db.execute(
        "SELECT id, code, cell_code, compound_code, unit_code, reporter_name, reporter_phone "
        "FROM tickets WHERE community_code = %s AND compound_code IS NOT NULL "
        "AND unit_code IS NOT NULL AND reporter_name IS NOT NULL ORDER BY id LIMIT 1",
        (COMMUNITY,)).fetchone()
    assert row is not None
    other = db.execute("SELECT code FROM units WHERE code <> %s ORDER BY code LIMIT 1",
                       (row[4],)).fetchone()
    assert other is not None
    db.execute("INSERT INTO ticket_units (ticket_id, unit_code, role) VALUES (%s, %s, "
               "'COOPERATING') ON CONFLICT DO NOTHING", (row[0], other[0]))
    return (*row, other[0])


@pytest.mark.parametrize(("role", "scope", "unmasked"), [
    ("COUNTY_OFFICE", None, True),
    ("GRID_WORKER", "cell", True),
    ("COMMUNITY_STAFF", "community", True),
    ("STREET_OFFICER", "street", True),
    ("SUPERVISOR", "compound", True),
    ("UNIT", "lead", True),
    ("UNIT", "cooperating", False),
    ("SUPERVISOR", "other compound", False),
])
def test_who_reads_a_reporter_unmasked(gql: GraphQLClient, token: Minter,
                                       db: psycopg.Connection, demo_ticket: Any, role: str,
                                       scope: str | None, unmasked: bool) -> None:
    _, code, cell, compound, lead, name, phone, cooperating = demo_ticket
    scopes = {"cell": cell, "community": COMMUNITY, "street": COMMUNITY[:9],
              "compound": compound, "lead": lead, "cooperating": cooperating,
              "other compound": db.execute(  # a real one: unknown codes are refused at sign-in
                  "SELECT code FROM compounds WHERE code <> %s ORDER BY code LIMIT 1",
                  (compound,)).fetchone()[0]}  # type: ignore[index]
    subject = f"pd-{role}-{scope}".lower().replace(" ", "-")
    caller = gql.as_(token(role, *([scopes[scope]] if scope else []), sub=subject))

    body = caller(ONE, {"code": code})

    ticket = body["data"]["ticket"]
    logged = [r for r in _log_rows(db, code) if r[0] == subject]
    if unmasked:
        assert "errors" not in body, body
        assert (ticket["reporterName"], ticket["reporterPhone"]) == (name, phone)
        assert len(logged) == 1 and logged[0][1] == role
    else:
        if ticket is not None:  # a cooperating unit sees the ticket, not its reporter
            assert (ticket["reporterName"], ticket["reporterPhone"]) == (
                mask_name(name), mask_phone(phone))
        assert logged == []


def test_the_reporting_resident_reads_their_own(gql: GraphQLClient, token: Minter,
                                                db: psycopg.Connection) -> None:
    me = gql.as_(token("RESIDENT", sub="pd-resident"))
    ticket = me.data(CREATE, _input("卫青峰", "13800004444"))["createTicket"]["ticket"]
    assert (ticket["reporterName"], ticket["reporterPhone"]) == ("卫青峰", "13800004444")
    assert [r[:2] for r in _log_rows(db, ticket["code"])] == [("pd-resident", "RESIDENT")]


def test_the_county_office_queries_the_access_log(county: GraphQLClient, gql: GraphQLClient,
                                                  token: Minter) -> None:
    code = _create(county, "卫青岚", "13800005555")
    for sub in ("pd-log-a", "pd-log-b"):
        gql.as_(token("COMMUNITY_STAFF", COMMUNITY, sub=sub)).data(ONE, {"code": code})

    page = county.data(LOG, {"ticketCode": code, "first": 1})["personalDataAccess"]

    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
    [newest] = [e["node"] for e in page["edges"]]
    assert newest["subject"] == "pd-log-b" and newest["role"] == "COMMUNITY_STAFF"
    assert newest["ticketCode"] == code and sorted(newest["fields"]) == [
        "reporterName", "reporterPhone"]
    rest = county.data(LOG, {"ticketCode": code, "after": page["pageInfo"]["endCursor"]})
    assert [e["node"]["subject"] for e in rest["personalDataAccess"]["edges"]] == ["pd-log-a"]
    by_subject = county.data(LOG, {"subject": "pd-log-a"})["personalDataAccess"]
    assert {e["node"]["ticketCode"] for e in by_subject["edges"]} == {code}


@pytest.mark.parametrize(("role", "scopes"), [
    (None, ()), ("PLANNER", ()), ("GRID_WORKER", (COMMUNITY,)),
    ("STREET_OFFICER", (COMMUNITY[:9],)), ("RESIDENT", ()), ("UNIT", ("U-POWER_COMPANY",)),
])
def test_only_the_county_office_queries_the_access_log(gql: GraphQLClient, token: Minter,
                                                       role: str | None,
                                                       scopes: tuple[str, ...]) -> None:
    caller = gql.as_(token(role, *scopes)) if role else gql
    error = caller.error(LOG, {})
    assert error["extensions"]["code"] == "FORBIDDEN"


SECRET_NAME = "阙霁雯"
SECRET_PHONE = "13971625384"


@pytest.mark.parametrize(("role", "scopes"), [
    (None, ()), ("PLANNER", ()), ("GRID_WORKER", (OTHER_COMMUNITY,)),
])
def test_no_response_carries_a_reporter_outside_scope(gql: GraphQLClient, token: Minter,
                                                      county: GraphQLClient, role: str | None,
                                                      scopes: tuple[str, ...]) -> None:
    caller = gql.as_(token(role, *scopes, sub=f"pd-scan-{role}")) if role else gql
    resident = gql.as_(token("RESIDENT", sub=f"pd-scan-resident-{role}"))
    bodies = [caller(CREATE, _input(SECRET_NAME, SECRET_PHONE))]  # refused: not their channel
    assert bodies[0]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    filed = resident.data(CREATE, _input(SECRET_NAME, SECRET_PHONE))["createTicket"]["ticket"]
    assert filed["reporterPhone"] == SECRET_PHONE  # the reporter sees their own ticket
    other = _create(county, SECRET_NAME, SECRET_PHONE)
    for code in (filed["code"], other):
        bodies += [caller(ONE, {"code": code}), caller(TWICE, {"code": code}),
                   caller(COSIGN, {"code": code})]
    bodies += [caller(NEARBY, {"p": CENTRE}), caller(PAGE)]

    for body in bodies:
        text = json.dumps(body, ensure_ascii=False)
        assert SECRET_NAME not in text and SECRET_PHONE not in text, text


def test_a_read_fails_when_its_log_row_cannot_be_written() -> None:
    class LogDown:
        @asynccontextmanager
        async def transaction(self) -> AsyncIterator[Any]:
            raise RuntimeError("the access log is down")
            yield

    context = SimpleNamespace(db=LogDown(), actor=Actor("pd-county", Role.COUNTY_OFFICE))
    ticket = SimpleNamespace(id=1, reporter_name="张伟", reporter_subject=None)
    info: Any = SimpleNamespace(context=context)

    with pytest.raises(RuntimeError, match="access log is down"):
        asyncio.run(reporter_field(info, ticket, "reporterName", "reporter_name"))
