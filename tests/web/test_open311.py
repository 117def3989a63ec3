"""Open311 GeoReport v2 over real HTTP: a client that sends what FixMyStreet's Open311 sender
sends (discover, list services, read a definition, post with an image URL, read back), the
specification's examples, its error format, and RedGrid's disclosure rule on reads."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import psycopg
import pytest
from starlette.testclient import TestClient

from db.vocabulary import OPEN_STATUSES, SHANGHAI
from web.app import create_app
from web.settings import RateBudget, Settings

FIXTURES = Path(__file__).parent / "fixtures"
FMS = json.loads((FIXTURES / "fixmystreet_open311.json").read_text(encoding="utf-8"))
POINT = {"lat": "34.918", "long": "118.657"}


class Open311:
    """A GeoReport v2 client over HTTP, as FixMyStreet's sender speaks it (XML by default)."""

    def __init__(self, base: str, api_key: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.api_key = api_key

    def call(self, path: str, params: dict[str, str] | None = None, *,
             form: dict[str, str] | None = None,
             content_type: str = "application/x-www-form-urlencoded") -> tuple[int, bytes]:
        query = dict(params or {})
        if self.api_key and form is None:
            query["api_key"] = self.api_key
        url = f"{self.base}/{path}" + (f"?{urlencode(query)}" if query else "")
        data = None
        headers = {}
        if form is not None:
            body = {"jurisdiction_id": FMS["jurisdiction_id"], **form}
            if self.api_key:
                body["api_key"] = self.api_key
            data = urlencode(body).encode()
            headers["Content-Type"] = content_type
        try:
            with urlopen(Request(url, data=data, headers=headers), timeout=30) as r:
                return r.status, r.read()
        except HTTPError as exc:
            return exc.code, exc.read()

    def xml(self, path: str, params: dict[str, str] | None = None,
            **kw: Any) -> tuple[int, ET.Element]:
        status, body = self.call(path, params, **kw)
        return status, ET.fromstring(body)

    def json(self, path: str, params: dict[str, str] | None = None, **kw: Any) -> tuple[int, Any]:
        status, body = self.call(path, params, **kw)
        return status, json.loads(body)


def register(settings: Settings, name: str, role: str, channel: str, *scopes: str) -> str:
    """`redgrid open311 key`, run as a command against the test database."""
    args = [sys.executable, "-m", "web.cli", "open311", "key", "--name", name, "--role", role,
            "--channel", channel, *[a for s in scopes for a in ("--scope", s)]]
    env = {**os.environ, "DATABASE_URL": settings.database_url}
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def resident_key(settings: Settings) -> str:
    return register(settings, "fixmystreet-linshu", "RESIDENT", "ONLINE")


@pytest.fixture(scope="module")
def fms(live_server: str, resident_key: str) -> Open311:
    return Open311(f"{live_server}/open311/v2", resident_key)


def _children(root: ET.Element, tag: str) -> list[dict[str, str | None]]:
    return [{c.tag: c.text for c in item} for item in root.findall(tag)]


def _count(db: psycopg.Connection, sql: str, *args: Any) -> int:
    row = db.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def test_the_key_is_printed_once_and_stored_as_its_hash(settings: Settings,
                                                       db: psycopg.Connection) -> None:
    key = register(settings, "hash-check", "RESIDENT", "QR_CODE")
    assert len(key) >= 40
    row = db.execute("SELECT key_hash, role, channel, scopes FROM open311_clients "
                     "WHERE name = 'hash-check'").fetchone()
    assert row == (hashlib.sha256(key.encode()).hexdigest(), "RESIDENT", "QR_CODE", [])
    dump = db.execute("SELECT row_to_json(c)::text FROM open311_clients c").fetchall()
    assert not any(key in r[0] for r in dump)
    # A role that does not file on the channel is refused, and nothing is stored.
    args = [sys.executable, "-m", "web.cli", "open311", "key", "--name", "bad", "--role",
            "RESIDENT", "--channel", "HOTLINE_12345"]
    done = subprocess.run(args, env={**os.environ, "DATABASE_URL": settings.database_url},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "ONLINE, QR_CODE" in done.stderr and not done.stdout
    assert _count(db, "SELECT count(*) FROM open311_clients WHERE name = 'bad'") == 0


def test_fixmystreet_flow_end_to_end(fms: Open311, db: psycopg.Connection) -> None:
    # Discover.
    status, discovery = fms.xml("discovery.xml")
    assert status == 200
    endpoint = discovery.find("endpoints/endpoint")
    assert endpoint is not None
    assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint.findtext("url") == fms.base
    assert {f.text for f in endpoint.findall("formats/format")} == {"application/json",
                                                                     "text/xml"}
    # The service list: the 46 demand items, their category as group.
    status, services = fms.xml("services.xml", {"jurisdiction_id": FMS["jurisdiction_id"]})
    assert status == 200
    listed = _children(services, "service")
    items = db.execute("SELECT i.code, i.name_zh, c.name_zh FROM demand_items i "
                       "JOIN demand_categories c ON c.code = i.category_code "
                       "ORDER BY i.code").fetchall()
    assert [(s["service_code"], s["service_name"], s["group"]) for s in listed] == \
        [tuple(r) for r in items]
    assert len(listed) == 46 and len({s["group"] for s in listed}) == 5
    with_metadata = {s["service_code"] for s in listed if s["metadata"] == "true"}
    assert "P11" in with_metadata and "P02" not in with_metadata
    # A definition, for a service with metadata.
    status, definition = fms.xml("services/P11.xml")
    assert status == 200 and definition.findtext("service_code") == "P11"
    attributes = {a.findtext("code"): a for a in definition.findall("attributes/attribute")}
    assert attributes["building"].findtext("required") == "true"
    assert {v.findtext("key") for v in attributes["people_trapped"].findall("values/value")} \
        == {"yes", "no"}
    # Post every report with its image URL, then read each back.
    for report in FMS["reports"]:
        status, answer = fms.xml("requests.xml", form=report)
        assert status == 201, ET.tostring(answer)
        code = answer.findtext("request/service_request_id")
        assert code and code.startswith("T")
        ticket = db.execute(
            "SELECT t.channel, t.item_code, t.description, t.due_at, u.name, r.media_url, "
            "r.email, r.attributes, t.reporter_name, t.reporter_phone "
            "FROM tickets t LEFT JOIN units u ON u.code = t.unit_code "
            "JOIN open311_requests r ON r.ticket_id = t.id WHERE t.code = %s",
            (code,)).fetchone()
        assert ticket is not None
        channel, item, description, due_at, unit, media_url, email, attrs, name, phone = ticket
        assert (channel, item, media_url, email) == ("ONLINE", report["service_code"],
                                                     report["media_url"], report["email"])
        assert description == report["description"].strip()
        assert name == f"{report['last_name']} {report['first_name']}"
        assert phone == report.get("phone")
        # Only the service's own attributes are kept; FixMyStreet's extras are dropped.
        defined = {k[10:-1]: v for k, v in report.items()
                   if k.startswith("attribute[") and k[10:-1] in
                   {"building", "entrance", "people_trapped"}}
        assert attrs == defined
        status, back = fms.xml(f"requests/{code}.xml")
        assert status == 200
        [got] = _children(back, "request")
        assert got["service_request_id"] == code and got["status"] == "open"
        assert got["detailed_status"] in OPEN_STATUSES
        assert got["media_url"] == report["media_url"]
        assert (float(got["lat"] or 0), float(got["long"] or 0)) == \
            (float(report["lat"]), float(report["long"]))
        assert got["agency_responsible"] == unit
        assert got["expected_datetime"] is not None
        assert got["expected_datetime"].endswith("+08:00")
        assert datetime.fromisoformat(got["expected_datetime"]) == due_at.replace(microsecond=0)
    # FixMyStreet's status check: several ids at once.
    codes = [r[0] for r in db.execute(
        "SELECT t.code FROM tickets t JOIN open311_requests r ON r.ticket_id = t.id "
        "JOIN open311_clients c ON c.id = r.client_id WHERE c.name = 'fixmystreet-linshu' "
        "ORDER BY t.code").fetchall()]
    status, listing = fms.xml("requests.xml", {"service_request_id": ",".join(codes)})
    assert status == 200
    assert sorted(r["service_request_id"] or "" for r in _children(listing, "request")) == codes


def test_the_same_token_files_one_ticket(fms: Open311, db: psycopg.Connection) -> None:
    form = {"service_code": "P31", **POINT, "description": "楼上装修噪音", "token": "fms-77"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: fms.json("requests.json", form=form), range(12)))
    assert {status for status, _ in answers} == {201}
    assert len({body[0]["service_request_id"] for _, body in answers}) == 1
    assert _count(db, "SELECT count(*) FROM tickets WHERE idempotency_key = 'fms-77'") == 1
    for changed in ({"description": "另一件事"}, {"media_url": "https://example.org/b.jpg"}):
        status, body = fms.json("requests.json", form={**form, **changed})
        assert status == 409
        assert body == [{"code": 409, "description": body[0]["description"],
                         "redgrid_code": "IDEMPOTENCY_CONFLICT", "field": "token"}]


@pytest.mark.parametrize(("form", "status", "code", "field"), [
    ({"service_code": "P02", "description": "x"}, 400, "BAD_USER_INPUT", "lat"),
    ({"service_code": "P02", "lat": "north", "long": "118.657", "description": "x"}, 400,
     "BAD_USER_INPUT", "lat"),
    ({"service_code": "P02", "lat": "95", "long": "118.657", "description": "x"}, 400,
     "BAD_USER_INPUT", "lat"),
    ({"service_code": "P02", "lat": "39.9", "long": "116.4", "description": "x"}, 400,
     "OUTSIDE_COVERAGE", "lat"),
    ({"service_code": "P99", **POINT, "description": "x"}, 400, "UNKNOWN_ITEM_CODE",
     "service_code"),
    ({"service_code": "P02", **POINT, "description": "  "}, 400, "BAD_USER_INPUT",
     "description"),
    ({"service_code": "P11", **POINT, "description": "电梯坏了"}, 400, "BAD_USER_INPUT",
     "attribute[building]"),
    ({"service_code": "P11", **POINT, "description": "电梯坏了", "attribute[building]": "3",
      "attribute[people_trapped]": "maybe"}, 400, "BAD_USER_INPUT",
     "attribute[people_trapped]"),
    ({"service_code": "P02", **POINT, "description": "x", "media_url": "javascript:alert(1)"},
     400, "BAD_USER_INPUT", "media_url"),
    ({"service_code": "P02", **POINT, "description": "x", "email": "not-an-address"}, 400,
     "BAD_USER_INPUT", "email"),
    ({"service_code": "P02", **POINT, "description": "x", "phone": "call me"}, 400,
     "BAD_USER_INPUT", "phone"),
    ({"service_code": "P02", "address_string": "临沭县人民路1号", "description": "x"}, 400,
     "BAD_USER_INPUT", "lat"),
    ({"service_code": "P02", **POINT, "description": "x", "address_id": "A1"}, 400,
     "BAD_USER_INPUT", "address_id"),
    ({"service_code": "P02", **POINT, "description": "坏\x00了"}, 400, "BAD_USER_INPUT",
     "description"),
])
def test_bad_posts_answer_in_the_error_format_and_write_nothing(
        fms: Open311, db: psycopg.Connection, form: dict[str, str], status: int, code: str,
        field: str) -> None:
    before = _count(db, "SELECT count(*) FROM tickets")
    got, body = fms.json("requests.json", form=form)
    assert got == status
    assert len(body) == 1 and body[0]["code"] == status and body[0]["description"]
    assert (body[0]["redgrid_code"], body[0]["field"]) == (code, field)
    assert _count(db, "SELECT count(*) FROM tickets") == before


def test_keys_formats_and_content_types(live_server: str, fms: Open311,
                                        db: psycopg.Connection) -> None:
    anonymous = Open311(fms.base)
    before = _count(db, "SELECT count(*) FROM tickets")
    form = {"service_code": "P02", **POINT, "description": "无钥匙"}
    for client in (anonymous, Open311(fms.base, "not-a-key")):
        status, body = client.json("requests.json", form=form)
        assert status == 403 and body[0]["redgrid_code"] == "UNAUTHENTICATED"
    # Reads need a key too: the one deviation from the specification's open reads.
    status, errors = anonymous.xml("requests.xml")
    assert status == 403 and errors.tag == "errors"
    assert errors.findtext("error/code") == "403"
    assert errors.findtext("error/redgrid_code") == "UNAUTHENTICATED"
    status, _ = anonymous.json("requests/T20240101-0000001.json")
    assert status == 403
    status, body = fms.json("requests.json", form=form, content_type="application/json")
    assert status == 400 and body[0]["redgrid_code"] == "BAD_USER_INPUT"
    status, body = fms.json("services.html")
    assert status == 404 and body[0]["redgrid_code"] == "NOT_FOUND"
    status, body = fms.json("services/P99.json")
    assert status == 404 and body[0]["field"] == "service_code"
    assert _count(db, "SELECT count(*) FROM tickets") == before


def test_a_large_form_is_refused_before_it_is_read_whole(fms: Open311,
                                                       db: psycopg.Connection) -> None:
    before = _count(db, "SELECT count(*) FROM tickets")
    form = {"service_code": "P02", **POINT, "description": "大" * 40_000}
    status, body = fms.json("requests.json", form=form)
    assert status == 413 and body[0]["redgrid_code"] == "PAYLOAD_TOO_LARGE"
    assert _count(db, "SELECT count(*) FROM tickets") == before


@pytest.mark.parametrize(("params", "field"), [
    ({"start_date": "20240630"}, "start_date"),  # the basic format: not a W3C datetime
    ({"end_date": "2024-06-30T12"}, "end_date"),
    ({"start_date": "2024-W26-1"}, "start_date"),
    ({"end_date": "yesterday"}, "end_date"),
    ({"page": "abc"}, "page"),
    ({"page": "1.5"}, "page"),
    ({"page_size": "-5"}, "page_size"),
    ({"bbox": "118.6,34.8,118.7"}, "bbox"),
    ({"bbox": "nan,34.8,118.7,35.0"}, "bbox"),
])
def test_bad_read_parameters_answer_in_the_error_format(fms: Open311, params: dict[str, str],
                                                        field: str) -> None:
    """Open311's query parameters are read as every HTTP route reads them (web/params.py)."""
    status, body = fms.json("requests.json", params)
    assert status == 400, body
    assert body == [{"code": 400, "description": body[0]["description"],
                     "redgrid_code": "BAD_USER_INPUT", "field": field}]


def test_an_end_date_that_is_a_day_includes_that_day(fms: Open311) -> None:
    form = {"service_code": "P02", **POINT, "description": "路灯不亮", "token": "fms-day"}
    status, posted = fms.json("requests.json", form=form)
    assert status == 201
    today = datetime.now(SHANGHAI).date().isoformat()
    status, found = fms.json("requests.json", {"start_date": today, "end_date": today})
    assert status == 200
    assert posted[0]["service_request_id"] in {r["service_request_id"] for r in found}


def test_open311_has_a_rate_budget(settings: Settings, resident_key: str) -> None:
    limited = replace(settings, rate_limits={"open311": RateBudget(0.001, 2)})
    with TestClient(create_app(limited), client=("203.0.113.9", 4000)) as client:
        answers = [client.get("/open311/v2/services.json") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[-1].json() == [{"code": 429, "description": "Too many requests.",
                                       "redgrid_code": "RATE_LIMITED", "field": None}]
        assert client.post("/graphql", json={"query": "{ zones { code } }"}).status_code == 200


def test_the_specification_examples(fms: Open311) -> None:
    # The specification's POST example (wiki.open311.org/GeoReport_v2), placed in Linshu.
    example = {"service_code": "P07", "lat": "34.9185", "long": "118.6575",
               "address_string": "临沭县滨河大道与沭河大街交叉口",
               "email": "smit222@sfgov.edu", "device_id": "tt222111",
               "account_id": "123456", "first_name": "john", "last_name": "smith",
               "phone": "111111111", "description": "车辆乱停堵住小区出口",
               "media_url": "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"}
    status, posted = fms.json("requests.json", form=example)
    assert status == 201
    assert set(posted[0]) >= {"service_request_id", "service_notice", "account_id"}
    assert posted[0]["account_id"] == "123456"
    code = posted[0]["service_request_id"]
    status, [got] = fms.json(f"requests/{code}.json")
    assert status == 200
    # Every field of the specification's GET requests example is answered.
    assert set(got) >= {"service_request_id", "status", "status_notes", "service_name",
                        "service_code", "description", "agency_responsible", "service_notice",
                        "requested_datetime", "updated_datetime", "expected_datetime",
                        "address", "address_id", "zipcode", "lat", "long", "media_url"}
    assert got["address"] == example["address_string"]
    assert got["media_url"] == example["media_url"]
    status, services = fms.json("services.json")
    assert status == 200
    assert set(services[0]) == {"service_code", "service_name", "description", "metadata",
                                "type", "keywords", "group"}
    status, definition = fms.json("services/P11.json")
    assert set(definition) == {"service_code", "attributes"}
    assert set(definition["attributes"][0]) == {"variable", "code", "datatype", "required",
                                                "datatype_description", "order",
                                                "description", "values"}


def _codes(client: Open311, **params: str) -> list[str]:
    status, body = client.json("requests.json", {"page_size": "200", **params})
    assert status == 200, body
    return [r["service_request_id"] for r in body]


def test_reads_follow_the_disclosure_rule(live_server: str, settings: Settings, fms: Open311,
                                          db: psycopg.Connection) -> None:
    base = f"{live_server}/open311/v2"
    status, posted = fms.json("requests.json", form={"service_code": "P33", **POINT,
                                                      "description": "楼道堆满杂物",
                                                      "attribute[building]": "5"})
    assert status == 201
    mine = posted[0]["service_request_id"]
    # Another resident app sees none of it: the same answer as for a code that does not exist.
    other = Open311(base, register(settings, "another-app", "RESIDENT", "ONLINE"))
    assert _codes(other) == []
    s1, b1 = other.json(f"requests/{mine}.json")
    s2, b2 = other.json("requests/T20000101-9999999.json")
    assert (s1, b1[0]["redgrid_code"]) == (s2, b2[0]["redgrid_code"]) == (404, "NOT_FOUND")
    # The filing app sees what it filed, and nothing else (a resident's scope is its own).
    filed = [r[0] for r in db.execute(
        "SELECT t.code FROM tickets t JOIN open311_requests r ON r.ticket_id = t.id "
        "JOIN open311_clients c ON c.id = r.client_id WHERE c.name = 'fixmystreet-linshu' "
        "ORDER BY t.created_at DESC, t.id DESC").fetchall()]
    assert mine in filed and _codes(fms) == filed
    # Community staff see their community's tickets as records (the last 90 days by default).
    row = db.execute("SELECT community_code FROM tickets WHERE code = %s", (mine,)).fetchone()
    assert row is not None
    community = row[0]
    staff = Open311(base, register(settings, "community-desk", "COMMUNITY_STAFF",
                                   "RECEPTION_DAY", community))
    expected = [r[0] for r in db.execute(
        "SELECT code FROM tickets WHERE community_code = %s "
        "AND created_at >= now() - interval '90 days' "
        "ORDER BY created_at DESC, id DESC LIMIT 200", (community,)).fetchall()]
    got = _codes(staff)
    assert got == expected and mine in got
    outside = db.execute("SELECT code FROM tickets WHERE community_code <> %s LIMIT 1",
                         (community,)).fetchone()
    assert outside is not None
    status, _ = staff.json(f"requests/{outside[0]}.json")
    assert status == 404


def test_filters_and_pages(live_server: str, settings: Settings,
                           db: psycopg.Connection) -> None:
    county = Open311(f"{live_server}/open311/v2",
                     register(settings, "county-hotline", "COUNTY_OFFICE", "HOTLINE_12345"))
    window = {"start_date": "2024-01-01T00:00:00+08:00", "end_date": "2024-07-01T00:00:00+08:00"}

    def expected(where: str, *args: Any, limit: int = 200, offset: int = 0) -> list[str]:
        return [r[0] for r in db.execute(
            f"SELECT code FROM tickets WHERE created_at >= %s AND created_at < %s AND {where} "
            "ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            (window["start_date"], window["end_date"], *args, limit, offset)).fetchall()]

    closed = _codes(county, status="closed", **window)
    assert closed and closed == expected("status IN ('RESOLVED', 'CLOSED', 'REJECTED')")
    assert _codes(county, status="open,closed", **window) == expected("TRUE")
    assert _codes(county, service_code="P15", **window) == expected("item_code = 'P15'")
    box = "118.64,34.91,118.66,34.93"
    assert _codes(county, bbox=box, **window) == expected(
        "geom && ST_MakeEnvelope(118.64, 34.91, 118.66, 34.93, 4326)")
    first = _codes(county, page_size="20", **window)
    second = _codes(county, page="2", page_size="20", **window)
    assert first == expected("TRUE", limit=20) and second == expected("TRUE", limit=20, offset=20)
    assert len(_codes(county, page_size="5000", **window)) == 200  # capped, not refused
    for params, field, code in [({"status": "pending"}, "status", "BAD_USER_INPUT"),
                                ({"bbox": "118.7,34.9,118.6,34.95"}, "bbox.west",
                                 "BAD_USER_INPUT"),
                                ({"bbox": "1,2,3"}, "bbox", "BAD_USER_INPUT"),
                                ({"start_date": "yesterday"}, "start_date", "BAD_USER_INPUT"),
                                ({"page": "0"}, "page", "BAD_USER_INPUT"),
                                ({"page": "1000", "page_size": "200"}, "page",
                                 "OFFSET_TOO_LARGE")]:
        status, body = county.json("requests.json", params)
        assert status == 400 and (body[0]["redgrid_code"], body[0]["field"]) == (code, field)
