"""Unit notifications: written once per event or reminder, delivered to the unit's webhook
signed, retried with backoff after a failure, and never sent twice by concurrent workers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg.rows import namedtuple_row

from db.database import Database
from db.queries.notifications import enqueue_reminders
from tests.conftest import GraphQLClient, Minter
from web.webhooks import MAX_DELAY, Refused, backoff, destination, resolve_host, run_once

SET_WEBHOOK = """mutation ($unit: String!, $url: String!) {
  setUnitWebhook(unitCode: $unit, url: $url) {
    webhook { unitCode url active } secret errors { code field } } }"""
NOTIFICATIONS = """query ($unit: String!) {
  unitNotifications(unitCode: $unit, first: 200) {
    id kind ticketCode attempts deliveredAt lastError } }"""
RECEIVER_BODY = b"stack trace of the receiver: db password hunter2"
CREATE = """mutation ($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { code createdAt dueAt responsibleUnit { code } }
                                errors { code } } }"""


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.body)
        return out


@dataclass
class Receiver:
    """A unit's webhook endpoint: answers 500 to the first attempt of each delivery, and
    echoes verification challenges when `echo` is on."""

    url: str = ""
    fail_first: bool = True
    echo: bool = False
    seen: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_ticket(self, code: str, kind: str | None = None) -> list[Delivery]:
        with self.lock:
            return [d for d in self.seen if "ticket" in d.json
                    and d.json["ticket"]["code"] == code
                    and (kind is None or d.json["kind"] == kind)]

    def challenges(self, unit: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.seen if d.json.get("type") == "URL_VERIFICATION"
                    and d.json["unitCode"] == unit]


@contextmanager
def in_thread(run: Callable[[], None], *, stop: Callable[[], None]) -> Iterator[None]:
    """Runs a test server's loop in a thread until the block ends."""
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop()
        thread.join(timeout=10)


@contextmanager
def serving_http(server: ThreadingHTTPServer) -> Iterator[None]:
    def stop() -> None:
        server.shutdown()
        server.server_close()

    with in_thread(server.serve_forever, stop=stop):
        yield


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            delivery = self.headers.get("X-RedGrid-Delivery", "")
            with state.lock:
                retry = any(d.headers.get("X-RedGrid-Delivery") == delivery for d in state.seen)
                status = 500 if state.fail_first and not retry else 204
                challenge = json.loads(body).get("challenge")
                if challenge is not None:
                    status = 200 if state.echo else 204
                state.seen.append(Delivery(dict(self.headers.items()), body, status))
            self.send_response(status)
            body = (RECEIVER_BODY if status >= 400 else
                    challenge.encode() if status == 200 else b"")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/redgrid"
    with serving_http(server):
        yield state


@pytest_asyncio.fixture(scope="module")
async def pool(conninfo: str) -> AsyncIterator[Database]:
    db = Database(conninfo, min_size=1, max_size=4)
    await db.open()
    yield db
    await db.close()


def community_unit(db: psycopg.Connection, nth: int) -> tuple[str, dict[str, float]]:
    """The `nth` community from the last (its own unit for community-led items) and a point
    inside it."""
    row = db.execute("SELECT DISTINCT ON (left(code, 12)) code, ST_X(ST_PointOnSurface(geom)), "
                     "ST_Y(ST_PointOnSurface(geom)) FROM grid_cells "
                     "ORDER BY left(code, 12) DESC, code DESC OFFSET %s LIMIT 1",
                     (nth,)).fetchone()
    assert row is not None
    return row[0][:12], {"lon": row[1], "lat": row[2]}


@pytest.fixture(scope="module")
def unit_point(db: psycopg.Connection) -> tuple[str, dict[str, float]]:
    return community_unit(db, 0)


@pytest.fixture(scope="module")
def other_unit(db: psycopg.Connection) -> tuple[str, dict[str, float]]:
    """A second unit, for webhooks at a host name."""
    return community_unit(db, 1)


def set_webhook(gql: GraphQLClient, token: Minter, unit: str, url: str) -> dict[str, Any]:
    """Sets a unit's webhook as the county office; returns the payload."""
    out = gql.as_(token("COUNTY_OFFICE")).data(SET_WEBHOOK, {"unit": unit, "url": url})
    payload: dict[str, Any] = out["setUnitWebhook"]
    assert payload["errors"] == []
    return payload


@pytest.fixture(scope="module")
def secret(gql: GraphQLClient, token: Minter, receiver: Receiver,
           unit_point: tuple[str, dict[str, float]]) -> str:
    unit = unit_point[0]
    payload = set_webhook(gql, token, unit, receiver.url)
    assert payload["webhook"] == {"unitCode": unit, "url": receiver.url, "active": True}
    assert len(payload["secret"]) >= 32
    return str(payload["secret"])


@pytest.fixture(scope="module")
def desk(gql: GraphQLClient, token: Minter) -> GraphQLClient:
    """The county office desk, entering what door-knocking collected."""
    return gql.as_(token("COUNTY_OFFICE", sub="webhook-desk"))


async def deliver(db: Database, now: datetime, **kwargs: Any) -> Any:
    """A webhook pass that may call the receiver on this machine's loopback address."""
    return await run_once(db, now, allow_private=True, **kwargs)


def create_ticket(gql: GraphQLClient, point: dict[str, float]) -> dict[str, Any]:
    out = gql.data(CREATE, {"input": {"point": point, "itemCode": "P39", "description": "楼道堆物",
                                      "channel": "DOOR_KNOCKING"}})["createTicket"]
    assert out["errors"] == []
    ticket: dict[str, Any] = out["ticket"]
    return ticket


def rows_for(db: psycopg.Connection, code: str, unit: str | None = None) -> list[Any]:
    """The notifications about a ticket (to one unit, or to all)."""
    sql = """SELECT n.id, n.unit_code, n.kind, n.dedupe_key, n.attempts, n.delivered_at,
                    n.next_attempt_at, n.last_error
             FROM notifications n JOIN tickets t ON t.id = n.ticket_id
             WHERE t.code = %s AND (%s::text IS NULL OR n.unit_code = %s)
             ORDER BY n.created_at, n.kind, n.unit_code"""
    return db.cursor(row_factory=namedtuple_row).execute(sql, (code, unit, unit)).fetchall()


def verifies(secret: str, delivery: Delivery) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), delivery.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, delivery.headers["X-RedGrid-Signature"])


async def test_a_dispatch_is_delivered_once_after_a_retry(
        desk: GraphQLClient, gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        pool: Database, receiver: Receiver, secret: str, unit_point: tuple[str, dict[str, float]]) -> None:
    unit, point = unit_point
    ticket = create_ticket(desk, point)
    assert ticket["responsibleUnit"]["code"] == unit
    t0 = datetime.now(UTC)
    # Written with the ticket, before any worker pass.
    [row] = rows_for(db, ticket["code"], unit)
    assert (row.kind, row.attempts) == ("DISPATCHED", 0)

    first = await deliver(pool, t0)
    assert first.failed >= 1
    [row] = rows_for(db, ticket["code"], unit)
    assert (row.unit_code, row.kind, row.attempts, row.delivered_at) == (unit, "DISPATCHED", 1,
                                                                         None)
    # The status is kept, the receiver's body is neither stored nor shown.
    assert row.last_error == "HTTP 500" and row.next_attempt_at == t0 + backoff(1)
    shown = gql.as_(token("UNIT", unit)).data(NOTIFICATIONS, {"unit": unit})["unitNotifications"]
    assert [n["lastError"] for n in shown if n["id"] == str(row.id)] == ["HTTP 500"]
    assert b"hunter2" not in json.dumps(shown).encode()

    await deliver(pool, t0 + timedelta(seconds=2))  # still backing off
    assert len(receiver.for_ticket(ticket["code"])) == 1
    await deliver(pool, t0 + timedelta(seconds=6))
    await deliver(pool, t0 + timedelta(hours=2))  # delivered: nothing more to send

    failed, accepted = receiver.for_ticket(ticket["code"])
    [row] = rows_for(db, ticket["code"], unit)
    assert (failed.status, accepted.status) == (500, 204)
    assert row.attempts == 2 and row.delivered_at == t0 + timedelta(seconds=6)
    assert row.last_error is None
    assert failed.headers["X-RedGrid-Delivery"] == accepted.headers["X-RedGrid-Delivery"] == str(
        row.id)
    assert failed.body == accepted.body and verifies(secret, accepted)
    assert not verifies("another secret", accepted)
    body = accepted.json
    assert (body["id"], body["kind"]) == (str(row.id), "DISPATCHED")
    assert body["ticket"]["code"] == ticket["code"] and body["ticket"]["unitCode"] == unit
    assert datetime.fromisoformat(body["at"]) >= datetime.fromisoformat(ticket["createdAt"])
    assert row.dedupe_key.startswith(f"DISPATCHED:{ticket['code']}:")


async def test_reminder_at_80_percent_of_the_deadline_and_on_escalation(
        desk: GraphQLClient, gql: GraphQLClient, db: psycopg.Connection, pool: Database, receiver: Receiver,
        secret: str, unit_point: tuple[str, dict[str, float]]) -> None:
    unit, point = unit_point
    ticket = create_ticket(desk, point)
    ticket_id = db.execute("SELECT id FROM tickets WHERE code = %s",
                           (ticket["code"],)).fetchone()[0]  # type: ignore[index]
    partners = {r[0] for r in db.execute("SELECT unit_code FROM ticket_units WHERE ticket_id = %s "
                                         "AND role = 'COOPERATING'", (ticket_id,))}
    assert partners  # P39: the street and the property company cooperate
    created, due = (datetime.fromisoformat(ticket[k]) for k in ("createdAt", "dueAt"))

    # An escalation event notifies the lead and the cooperating unit.
    db.execute("INSERT INTO ticket_events (ticket_id, at, action, actor, note) "
               "VALUES (%s, %s, 'ESCALATED', 'test', 'overdue')", (ticket_id, created))
    async with pool.transaction() as conn:
        await enqueue_reminders(conn, created + timedelta(minutes=1))
    # Half-way to the deadline there is no reminder yet.
    halfway = created + (due - created) / 2
    async with pool.transaction() as conn:
        await enqueue_reminders(conn, halfway)
    kinds = {(r.kind, r.unit_code) for r in rows_for(db, ticket["code"])}
    assert kinds == {(kind, u) for kind in ("DISPATCHED", "ESCALATED") for u in {unit, *partners}}

    late = created + (due - created) * 0.85
    await deliver(pool, late)
    await deliver(pool, late)  # idempotent: no second reminder
    reminders = [r for r in rows_for(db, ticket["code"]) if r.kind == "DUE_SOON"]
    assert sorted(r.unit_code for r in reminders) == sorted({unit, *partners})
    await deliver(pool, late + timedelta(seconds=6))
    sent = receiver.for_ticket(ticket["code"], "DUE_SOON")
    assert [d.status for d in sent] == [500, 204] and all(verifies(secret, d) for d in sent)
    at = datetime.fromisoformat(sent[1].json["at"])
    assert abs(at - (created + (due - created) * 0.8)) < timedelta(seconds=1)
    # Once overdue, no reminder is written any more (escalation takes over).
    async with pool.transaction() as conn:
        await enqueue_reminders(conn, due + timedelta(days=1))
    assert len([r for r in rows_for(db, ticket["code"]) if r.kind == "DUE_SOON"]) == len(reminders)


async def test_concurrent_workers_never_send_twice(
        desk: GraphQLClient, gql: GraphQLClient, db: psycopg.Connection, pool: Database, conninfo: str,
        receiver: Receiver, secret: str, unit_point: tuple[str, dict[str, float]]) -> None:
    tickets = [create_ticket(desk, unit_point[1]) for _ in range(6)]
    other = Database(conninfo, min_size=1, max_size=4)
    await other.open()
    receiver.fail_first = False
    try:
        now = datetime.now(UTC) + timedelta(minutes=1)
        await asyncio.gather(deliver(pool, now), deliver(other, now), deliver(pool, now))
    finally:
        receiver.fail_first = True
        await other.close()
    for t in tickets:
        [sent] = receiver.for_ticket(t["code"])
        [row] = rows_for(db, t["code"], unit_point[0])
        assert sent.headers["X-RedGrid-Delivery"] == str(row.id) and row.attempts == 1


def test_the_unit_reads_its_notifications(gql: GraphQLClient, token: Minter,
                                          unit_point: tuple[str, dict[str, float]],
                                          secret: str) -> None:
    unit = unit_point[0]
    rows = gql.as_(token("UNIT", unit)).data(NOTIFICATIONS, {"unit": unit})["unitNotifications"]
    assert rows and {r["kind"] for r in rows} <= {"DISPATCHED", "DUE_SOON", "ESCALATED"}
    assert any(r["deliveredAt"] and r["attempts"] == 2 for r in rows)
    error = gql.as_(token("UNIT", "U-FIRE_RESCUE")).error(NOTIFICATIONS, {"unit": unit})
    assert error["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("role", "url", "code"), [
    ("STREET_OFFICER", "https://example.org/hook", "FORBIDDEN"),
    ("OTHER_UNIT", "https://example.org/hook", "FORBIDDEN"),
    ("PUBLIC", "https://example.org/hook", "FORBIDDEN"),
    ("COUNTY_OFFICE", "ftp://example.org/hook", "BAD_USER_INPUT"),
    ("COUNTY_OFFICE", "not a url", "BAD_USER_INPUT"),
])
def test_only_the_county_office_sets_a_valid_webhook(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection,
        unit_point: tuple[str, dict[str, float]], secret: str, receiver: Receiver, role: str,
        url: str, code: str) -> None:
    unit = unit_point[0]
    scopes = {"STREET_OFFICER": ("371329001",), "OTHER_UNIT": ("U-FIRE_RESCUE",)}
    client = gql if role == "PUBLIC" else gql.as_(
        token(role.replace("OTHER_", ""), *scopes.get(role, ())))
    body = client(SET_WEBHOOK, {"unit": unit, "url": url})
    if code == "FORBIDDEN":
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    else:
        payload = body["data"]["setUnitWebhook"]
        assert payload["webhook"] is None and payload["errors"] == [{"code": code, "field": "url"}]
    stored = db.execute("SELECT url FROM unit_webhooks WHERE unit_code = %s", (unit,)).fetchone()
    assert stored == (receiver.url,)  # unchanged


def test_a_unit_sets_its_webhook_once_the_receiver_echoes_the_challenge(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, receiver: Receiver) -> None:
    unit = community_unit(db, 3)[0]
    url = receiver.url + "?unit=" + unit
    receiver.echo = True
    try:
        payload = gql.as_(token("UNIT", unit)).data(SET_WEBHOOK, {"unit": unit, "url": url})[
            "setUnitWebhook"]
    finally:
        receiver.echo = False
    assert payload["errors"] == [] and payload["webhook"]["url"] == url
    [challenge] = receiver.challenges(unit)
    assert challenge.headers["X-RedGrid-Event"] == "URL_VERIFICATION"
    assert verifies(payload["secret"], challenge)
    stored = db.execute("SELECT url, active FROM unit_webhooks WHERE unit_code = %s",
                        (unit,)).fetchone()
    assert stored == (url, True)


@pytest.mark.parametrize("url", [
    "receiver",  # answers 204 without echoing the challenge
    "http://127.0.0.1:9/hook",  # nothing listens
])
def test_a_unit_webhook_that_does_not_echo_is_not_stored(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, receiver: Receiver,
        url: str) -> None:
    unit = community_unit(db, 4)[0]
    url = receiver.url if url == "receiver" else url
    payload = gql.as_(token("UNIT", unit)).data(SET_WEBHOOK, {"unit": unit, "url": url})[
        "setUnitWebhook"]
    assert payload["webhook"] is None and payload["secret"] is None
    assert payload["errors"] == [{"code": "WEBHOOK_NOT_VERIFIED", "field": "url"}]
    assert db.execute("SELECT 1 FROM unit_webhooks WHERE unit_code = %s", (unit,)).fetchall() == []


@pytest.mark.parametrize(("recorded", "shown"), [
    ("HTTP 500: <html>hunter2</html>", "HTTP 500"),
    ("gave up after 8 attempts; last: HTTP 502: hunter2\nmore", "gave up after 8 attempts; "
                                                              "last: HTTP 502"),
    ("RemoteProtocolError: illegal status line: bytearray(b'hunter2')", "RemoteProtocolError"),
    ("ConnectError: [Errno 111] Connection refused", "ConnectError: [Errno 111] Connection "
                                                     "refused"),
])
def test_answers_recorded_before_are_not_shown(
        gql: GraphQLClient, token: Minter, db: psycopg.Connection, recorded: str,
        shown: str) -> None:
    unit = community_unit(db, 6)[0]
    row = db.execute(
        "INSERT INTO notifications (unit_code, ticket_id, kind, dedupe_key, payload, created_at, "
        "attempts, next_attempt_at, last_error) SELECT %s, min(id), 'DISPATCHED', %s, "
        "jsonb_build_object('at', now()), now(), 1, now(), %s FROM tickets RETURNING id",
        (unit, f"legacy:{recorded}", recorded)).fetchone()
    assert row is not None
    rows = gql.as_(token("UNIT", unit)).data(NOTIFICATIONS, {"unit": unit})["unitNotifications"]
    assert [n["lastError"] for n in rows if n["id"] == str(row[0])] == [shown]


def test_backoff_doubles_from_5_seconds_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 5)] == [5, 10, 20, 40]
    assert backoff(30) == MAX_DELAY


async def test_production_refuses_internal_destinations(
        desk: GraphQLClient, db: psycopg.Connection, pool: Database, receiver: Receiver,
        secret: str, unit_point: tuple[str, dict[str, float]]) -> None:
    unit, point = unit_point
    ticket = create_ticket(desk, point)
    await run_once(pool, datetime.now(UTC), allow_private=False)

    [row] = rows_for(db, ticket["code"], unit)
    assert row.delivered_at is None and row.attempts == 1
    assert row.last_error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")
    assert receiver.for_ticket(ticket["code"]) == []  # nothing was sent


@pytest.mark.parametrize(("url", "refused"), [
    ("http://127.0.0.1:9/hook", True), ("http://10.1.2.3/hook", True),
    ("http://169.254.169.254/latest/meta-data", True), ("http://[::1]/hook", True),
    ("http://192.168.0.10/hook", True), ("http://localhost/hook", True),
    ("http://0.0.0.0/hook", True), ("http://100.64.0.1/hook", True),
    ("http://[::ffff:127.0.0.1]/hook", True), ("http://[fc00::1]/hook", True),
    ("http://[fd12:3456::1]/hook", True), ("http://[fe80::1]/hook", True),
    ("http://169.254.10.20/hook", True), ("http://[64:ff9b::7f00:1]/hook", True),
    ("http://[2002:7f00:1::1]/hook", True), ("http://[::7f00:1]/hook", True),
    ("http://198.18.0.1/hook", True), ("http://224.0.0.1/hook", True),
    ("https://93.184.216.34/hook", False), ("https://[2606:2800:220:1::1]/hook", False),
])
async def test_internal_addresses_are_recognised(url: str, refused: bool) -> None:
    try:
        await destination(url, resolve_host)
    except Refused:
        assert refused
    else:
        assert not refused


async def test_a_name_is_refused_if_any_of_its_addresses_is_internal() -> None:
    async def split(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with pytest.raises(Refused, match="127.0.0.1"):
        await destination("https://hooks.unit.test/hook", split)


@pytest.fixture(scope="module")
def named_hook(gql: GraphQLClient, token: Minter, receiver: Receiver,
               other_unit: tuple[str, dict[str, float]]) -> str:
    """The second unit's webhook: the receiver's port at the name hooks.unit.test."""
    url = receiver.url.replace("127.0.0.1", "hooks.unit.test")
    set_webhook(gql, token, other_unit[0], url)
    return url


def rebinding(name: str, *answers: list[str]) -> tuple[list[str], Any]:
    """A resolver stub: `name` answers each of `answers` in turn (the last one from then on),
    every other host is its own address; and the list of the times `name` was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        if host != name:
            return [host]
        asked.append(host)
        return answers[min(len(asked), len(answers)) - 1]

    return asked, resolve


@pytest.fixture
def named_ticket(desk: GraphQLClient, db: psycopg.Connection,
                 other_unit: tuple[str, dict[str, float]], named_hook: str) -> str:
    """A new ticket of the second unit, whose webhook is at hooks.unit.test; the only
    notification pending (those other tests left are set aside as delivered), so a pass
    looks the name up once."""
    code = str(create_ticket(desk, other_unit[1])["code"])
    db.execute("UPDATE notifications n SET delivered_at = now() FROM tickets t "
               "WHERE t.id = n.ticket_id AND n.delivered_at IS NULL AND t.code <> %s", (code,))
    return code


async def test_the_post_goes_to_the_address_checked_not_a_second_answer(
        db: psycopg.Connection, pool: Database, receiver: Receiver, named_ticket: str,
        other_unit: tuple[str, dict[str, float]], named_hook: str) -> None:
    # Nothing listens on 127.0.0.2: a second lookup at connect time would fail the delivery.
    asked, resolve = rebinding("hooks.unit.test", ["127.0.0.1"], ["127.0.0.2"])
    receiver.fail_first = False
    try:
        await deliver(pool, datetime.now(UTC) + timedelta(minutes=1), resolve=resolve)
    finally:
        receiver.fail_first = True
    [sent] = receiver.for_ticket(named_ticket)
    assert sent.headers["Host"] == httpx.URL(named_hook).netloc.decode()
    assert asked == ["hooks.unit.test"]
    [row] = rows_for(db, named_ticket, other_unit[0])
    assert row.delivered_at is not None and row.attempts == 1


async def test_a_name_rebinding_to_loopback_is_never_followed(
        db: psycopg.Connection, pool: Database, receiver: Receiver, named_ticket: str,
        other_unit: tuple[str, dict[str, float]]) -> None:
    # A public address to the check, this machine's loopback (the receiver) to a second lookup.
    # Tests send nothing off this machine: the transport (the network edge) records where the
    # post would go and answers 503 itself.
    asked, resolve = rebinding("hooks.unit.test", ["2001:4860:4860::8888"], ["127.0.0.1"])
    sent: list[httpx.Request] = []

    def edge(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(edge), trust_env=False) as client:
        await run_once(pool, datetime.now(UTC) + timedelta(minutes=2), client=client,
                       resolve=resolve, allow_private=False)
    assert receiver.for_ticket(named_ticket) == []
    assert asked == ["hooks.unit.test"]
    assert [r.url.host for r in sent] == ["2001:4860:4860::8888"]
    assert sent[0].headers["Host"].startswith("hooks.unit.test")
    [row] = rows_for(db, named_ticket, other_unit[0])
    assert row.delivered_at is None and row.attempts == 1
    assert "127.0.0.1" not in row.last_error, row.last_error


@dataclass
class TlsReceiver:
    """An HTTPS webhook endpoint whose certificate names only hooks.unit.test."""

    url: str
    client_tls: ssl.SSLContext
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tls_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsReceiver]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.unit.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.unit.test")]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    state = TlsReceiver("", ssl.create_default_context(cafile=str(folder / "cert.pem")))
    server_tls.sni_callback = lambda sock, server_name, context: state.server_names.append(
        server_name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            state.hosts.append(self.headers["Host"])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    state.url = f"https://hooks.unit.test:{server.server_address[1]}/hook"
    with serving_http(server):
        yield state


async def test_tls_keeps_the_host_name_while_connecting_to_the_checked_address(
        gql: GraphQLClient, token: Minter, desk: GraphQLClient, db: psycopg.Connection,
        pool: Database, tls_receiver: TlsReceiver) -> None:
    unit, point = community_unit(db, 2)
    set_webhook(gql, token, unit, tls_receiver.url)
    ticket = create_ticket(desk, point)
    asked, resolve = rebinding("hooks.unit.test", ["127.0.0.1"])
    async with httpx.AsyncClient(verify=tls_receiver.client_tls, trust_env=False) as client:
        await deliver(pool, datetime.now(UTC) + timedelta(minutes=3), client=client,
                      resolve=resolve)
    [sent] = rows_for(db, ticket["code"], unit)
    # The certificate names hooks.unit.test only: verified against the address, it would fail.
    assert sent.delivered_at is not None, sent.last_error
    assert "hooks.unit.test" in tls_receiver.server_names
    assert httpx.URL(tls_receiver.url).netloc.decode() in tls_receiver.hosts


@pytest.fixture(scope="module")
def garbled() -> Iterator[str]:
    """A receiver whose answer is not HTTP and quotes something internal."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 2OO " + RECEIVER_BODY + b"\r\n\r\n")

    with in_thread(serve, stop=server.close):
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"


async def test_a_garbled_answer_is_recorded_without_its_bytes(
        gql: GraphQLClient, token: Minter, desk: GraphQLClient, db: psycopg.Connection,
        pool: Database, garbled: str) -> None:
    unit, point = community_unit(db, 5)
    refused = gql.as_(token("UNIT", unit)).data(SET_WEBHOOK.replace("field", "field message"),
                                                {"unit": unit, "url": garbled})
    [error] = refused["setUnitWebhook"]["errors"]
    assert error["code"] == "WEBHOOK_NOT_VERIFIED" and "RemoteProtocolError" in error["message"]
    assert "hunter2" not in error["message"]
    set_webhook(gql, token, unit, garbled)
    ticket = create_ticket(desk, point)
    await deliver(pool, datetime.now(UTC) + timedelta(minutes=4))
    [row] = rows_for(db, ticket["code"], unit)
    assert row.delivered_at is None and row.last_error == "RemoteProtocolError"


async def test_a_lookup_that_hangs_is_refused_in_time() -> None:
    async def hanging(host: str, port: int) -> list[str]:
        await asyncio.sleep(60)
        return ["93.184.216.34"]

    with pytest.raises(Refused, match="did not resolve within 0.1 s"):
        await asyncio.wait_for(destination("https://hooks.unit.test/hook", hanging,
                                           resolve_timeout_s=0.1), 5)


EXPECTED = """
SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
CROSS JOIN LATERAL (SELECT t.unit_code WHERE t.unit_code IS NOT NULL
                    UNION SELECT tu.unit_code FROM ticket_units tu
                    WHERE tu.ticket_id = t.id AND tu.role = 'COOPERATING') u
WHERE t.code = ANY(%(codes)s) AND e.action IN ('DISPATCHED', 'ESCALATED', 'REOPENED')"""
WRITTEN = """SELECT count(*), count(DISTINCT (n.unit_code, n.dedupe_key)) FROM notifications n
JOIN tickets t ON t.id = n.ticket_id WHERE t.code = ANY(%(codes)s) AND n.kind <> 'DUE_SOON'"""


def test_a_ticket_event_writes_its_notifications_in_its_own_transaction(
        desk: GraphQLClient, db: psycopg.Connection, conninfo: str,
        unit_point: tuple[str, dict[str, float]]) -> None:
    # No worker runs: 40 tickets, each notified exactly once per receiving unit at commit.
    codes = [create_ticket(desk, unit_point[1])["code"] for _ in range(40)]
    expected = db.execute(EXPECTED, {"codes": codes}).fetchone()[0]  # type: ignore[index]
    assert expected >= 40
    assert db.execute(WRITTEN, {"codes": codes}).fetchone() == (expected, expected)

    # A transaction that commits late, after thousands of later events were committed (the
    # old watermark scan looked back 1,000 ids), still notifies; a rolled-back one does not.
    ticket = codes[0]
    tid = db.execute("SELECT id FROM tickets WHERE code = %s", (ticket,)).fetchone()[0]  # type: ignore[index]
    insert = ("INSERT INTO ticket_events (ticket_id, at, action, actor, note) "
              "VALUES (%s, now(), %s, 'test', %s) RETURNING id")
    with psycopg.connect(conninfo) as late, psycopg.connect(conninfo) as undone:
        late_id = late.execute(insert, (tid, "ESCALATED", "late")).fetchone()[0]  # type: ignore[index]
        undone_id = undone.execute(insert, (tid, "ESCALATED", "undone")).fetchone()[0]  # type: ignore[index]
        with db.cursor() as cur:
            cur.executemany("INSERT INTO ticket_events (ticket_id, at, action, actor, note) "
                            "VALUES (%s, now(), 'NOTE', 'test', 'filler')",
                            [(tid,)] * 2_000)
        undone.rollback()
        late.commit()
    keys = {r[0] for r in db.execute("SELECT dedupe_key FROM notifications WHERE ticket_id = %s",
                                     (tid,))}
    assert f"ESCALATED:{ticket}:{late_id}" in keys
    assert f"ESCALATED:{ticket}:{undone_id}" not in keys
    db.execute("DELETE FROM notifications WHERE dedupe_key = %s", (f"ESCALATED:{ticket}:{late_id}",))
