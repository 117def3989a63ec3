"""Web Push to field workers: a phone subscribes as a browser would (its own P-256 key pair and
auth secret), a ticket in its cell is dispatched, and a local push service receives the
message, decrypts it (RFC 8291, http_ece) and checks the VAPID JWT (RFC 8292) with PyJWT."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient
from typer.testing import CliRunner

from db.database import Database
from db.queries.notifications import enqueue_reminders
from resolvers.actor import Actor, Role
from resolvers.errors import DomainError
from resolvers.push import PushEndpoints, subscribe_push
from tests.conftest import GraphQLClient, Minter, serving
from tests.web.test_webhooks import serving_http
from web.app import create_app, endpoint_refused
from web.cli import app as cli
from web.push import PushReport, run_once
from web.settings import ConfigError, Settings
from web.vapid import PushSender, new_key_pair
from web.webhooks import backoff

SUBJECT = "mailto:push-test@example.org"
SUBSCRIBE = """mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  subscribePush(endpoint: $endpoint, p256dh: $p256dh, auth: $auth) {
    subscription { endpoint scopes } errors { code field } } }"""
UNSUBSCRIBE = """mutation ($endpoint: String!) {
  unsubscribePush(endpoint: $endpoint) { removed errors { code } } }"""
CREATE = """mutation ($input: CreateTicketInput!) {
  createTicket(input: $input) { ticket { code gridCell { code } } errors { code } } }"""
REPORTER = ("王秀英", "13905391234")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Phone:
    """A browser's push subscription: its key pair and auth secret stay on the phone."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @property
    def p256dh(self) -> str:
        return b64url(self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def variables(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "p256dh": self.p256dh, "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth,
                                 version="aes128gcm")
        out: dict[str, Any] = json.loads(plain)
        return out


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class PushService:
    """A push service on this machine: records every POST and answers by path, from `plan`
    (a list of statuses per path, the last one repeated) or 201."""

    url: str = ""
    plan: dict[str, list[int]] = field(default_factory=dict)
    seen: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def phone(self, name: str) -> Phone:
        return Phone(f"{self.url}/push/{name}-{secrets.token_hex(4)}")

    def at(self, phone: Phone) -> list[Received]:
        with self.lock:
            return [r for r in self.seen if self.url + r.path == phone.endpoint]


@pytest.fixture(scope="module")
def service() -> Iterator[PushService]:
    state = PushService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                plan = state.plan.get(self.path, [201])
                status = plan.pop(0) if len(plan) > 1 else plan[0]
                state.seen.append(Received(self.path, dict(self.headers.items()), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving_http(server):
        yield state


@pytest.fixture(scope="module")
def vapid() -> tuple[str, str]:
    return new_key_pair()


@pytest.fixture(scope="module")
def push_settings(settings: Settings, vapid: tuple[str, str]) -> Settings:
    return replace(settings, vapid_private_key=vapid[0], vapid_subject=SUBJECT)


@pytest.fixture(scope="module")
def sender(push_settings: Settings) -> PushSender:
    made = push_settings.push_sender()
    assert made is not None
    return made


@pytest.fixture(scope="module")
def app(push_settings: Settings) -> Iterator[GraphQLClient]:
    """The app with push on (development: a push service on loopback is allowed)."""
    with TestClient(create_app(push_settings)) as c:
        yield GraphQLClient(c)


def cell_point(db: psycopg.Connection, nth: int) -> tuple[str, dict[str, float]]:
    """The `nth` grid cell from the first and a point inside it."""
    row = db.execute("SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                     "FROM grid_cells ORDER BY code OFFSET %s LIMIT 1", (nth,)).fetchone()
    assert row is not None
    return row[0], {"lon": row[1], "lat": row[2]}


def subscribed(app: GraphQLClient, token: Minter, phone: Phone, cell: str,
               sub: str) -> dict[str, Any]:
    payload: dict[str, Any] = app.as_(token("GRID_WORKER", cell, sub=sub)).data(
        SUBSCRIBE, phone.variables())["subscribePush"]
    assert payload["errors"] == [] and payload["subscription"]["scopes"] == [cell]
    return payload


def watching(app: GraphQLClient, token: Minter, db: psycopg.Connection, service: PushService,
             nth: int, plan: list[int] | None = None) -> tuple[Phone, dict[str, float]]:
    """A grid worker of the `nth` cell whose phone has subscribed (its push service answering
    `plan`), and a point in the cell."""
    cell, point = cell_point(db, nth)
    phone = service.phone(f"cell-{nth}")
    subscribed(app, token, phone, cell, f"push-worker-{nth}")
    if plan is not None:
        service.plan[phone.endpoint.removeprefix(service.url)] = plan
    return phone, point


def dispatched(app: GraphQLClient, token: Minter, point: dict[str, float]) -> str:
    """A ticket filed by the county office at `point`: dispatched to its unit at once."""
    out = app.as_(token("COUNTY_OFFICE", sub="push-desk")).data(CREATE, {"input": {
        "point": point, "itemCode": "P39", "description": "楼道堆物，影响通行",
        "channel": "DOOR_KNOCKING", "reporterName": REPORTER[0],
        "reporterPhone": REPORTER[1]}})["createTicket"]
    assert out["errors"] == []
    return str(out["ticket"]["code"])


def item_name(db: psycopg.Connection, code: str) -> str:
    row = db.execute("SELECT name_zh FROM demand_items WHERE code = %s", (code,)).fetchone()
    assert row is not None
    return str(row[0])


async def push_pass(pool: Database, sender: PushSender | None, now: datetime) -> PushReport:
    return await run_once(pool, sender, now, allow_private=True)


def vapid_claims(received: Received, public_key: str, audience: str) -> dict[str, Any]:
    """The VAPID JWT's claims, its ES256 signature checked against the server's public key and
    its `aud` and `exp` by PyJWT, as a push service checks them."""
    scheme, _, params = received.headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key
    point = base64.urlsafe_b64decode(parts["k"] + "=" * (-len(parts["k"]) % 4))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    claims: dict[str, Any] = jwt.decode(parts["t"], key, algorithms=["ES256"], audience=audience,
                                        options={"require": ["aud", "exp", "sub"]})
    return claims


async def test_a_dispatch_in_the_cell_is_pushed_encrypted_and_signed(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, pool: Database,
        service: PushService, sender: PushSender) -> None:
    cell, point = cell_point(db, 0)
    other_cell, _ = cell_point(db, 40)
    mine, elsewhere = service.phone("worker"), service.phone("elsewhere")
    subscribed(app, token, mine, cell, "push-worker-1")
    subscribed(app, token, elsewhere, other_cell, "push-worker-2")
    code = dispatched(app, token, point)

    report = await push_pass(pool, sender, datetime.now(UTC))
    assert report.delivered >= 1 and report.failed == 0
    [received] = service.at(mine)
    assert service.at(elsewhere) == []  # a worker outside the cell gets nothing
    assert received.headers["Content-Encoding"] == "aes128gcm"
    assert int(received.headers["TTL"]) > 0 and received.headers["Urgency"] == "normal"
    message = mine.decrypt(received.body)
    row = db.execute("SELECT m.id FROM push_messages m JOIN tickets t ON t.id = m.ticket_id "
                     "WHERE t.code = %s", (code,)).fetchone()
    assert row is not None
    assert message == {
        "id": str(row[0]), "kind": "DISPATCHED", "title": "新派工单", "ticket": code,
        "item": item_name(db, "P39"), "body": f"{item_name(db, 'P39')} · {code}",
        "level": "COMMUNITY", "at": message["at"], "url": f"/field/#ticket={code}"}
    plain = json.dumps(message, ensure_ascii=False)
    assert REPORTER[0] not in plain and REPORTER[1] not in plain  # nothing about the resident
    # Another phone's keys cannot read it.
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises the cipher's own error
        elsewhere.decrypt(received.body)

    claims = vapid_claims(received, sender.public_key, service.url)
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    # The app is told the same public key to subscribe with.
    config = app.client.get("/field/config.json").json()
    assert config["push"] == {"publicKey": sender.public_key}
    # Delivered: a second pass sends nothing more.
    await push_pass(pool, sender, datetime.now(UTC) + timedelta(hours=2))
    assert len(service.at(mine)) == 1


async def test_escalation_and_the_due_soon_reminder_are_pushed(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, pool: Database,
        service: PushService, sender: PushSender) -> None:
    phone, point = watching(app, token, db, service, 1)
    code = dispatched(app, token, point)
    ticket_id, created, due = db.execute("SELECT id, created_at, due_at FROM tickets "
                                         "WHERE code = %s", (code,)).fetchone()  # type: ignore[misc]
    db.execute("INSERT INTO ticket_events (ticket_id, at, action, actor, note) "
               "VALUES (%s, %s, 'ESCALATED', 'test', 'overdue')", (ticket_id, created))
    late = created + (due - created) * 0.85
    async with pool.transaction() as conn:
        await enqueue_reminders(conn, late)
        await enqueue_reminders(conn, late)  # idempotent: one reminder
    await push_pass(pool, sender, late)
    # (Tickets other tests filed in the cell may be due soon too: only this one is checked.)
    received = [(phone.decrypt(r.body), r) for r in service.at(phone)]
    messages = [(m, r) for m, r in received if m["ticket"] == code]
    assert sorted(m["kind"] for m, _ in messages) == ["DISPATCHED", "DUE_SOON", "ESCALATED"]
    urgency = {m["kind"]: r.headers["Urgency"] for m, r in messages}
    assert urgency == {"DISPATCHED": "normal", "DUE_SOON": "high", "ESCALATED": "high"}


async def test_a_push_service_answering_410_removes_the_subscription(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, pool: Database,
        service: PushService, sender: PushSender) -> None:
    phone, point = watching(app, token, db, service, 2, plan=[410])
    dispatched(app, token, point)
    report = await push_pass(pool, sender, datetime.now(UTC))
    assert report.gone == 1 and len(service.at(phone)) == 1
    assert db.execute("SELECT count(*) FROM push_subscriptions WHERE endpoint = %s",
                      (phone.endpoint,)).fetchone() == (0,)
    dispatched(app, token, point)  # nothing more is written for it, nothing sent
    await push_pass(pool, sender, datetime.now(UTC) + timedelta(minutes=1))
    assert len(service.at(phone)) == 1


async def test_a_500_is_retried_and_delivered_once_with_the_same_id(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, pool: Database,
        service: PushService, sender: PushSender) -> None:
    phone, point = watching(app, token, db, service, 3, plan=[500, 201])
    code = dispatched(app, token, point)
    t0 = datetime.now(UTC)
    first = await push_pass(pool, sender, t0)
    assert first.failed == 1
    row = db.execute("SELECT m.attempts, m.last_error, m.next_attempt_at, m.delivered_at "
                     "FROM push_messages m JOIN tickets t ON t.id = m.ticket_id "
                     "WHERE t.code = %s", (code,)).fetchone()
    assert row == (1, "HTTP 500", t0 + backoff(1), None)
    await push_pass(pool, sender, t0 + timedelta(seconds=2))  # still backing off
    assert len(service.at(phone)) == 1
    await push_pass(pool, sender, t0 + timedelta(seconds=6))
    await push_pass(pool, sender, t0 + timedelta(hours=2))  # delivered: nothing more
    failed, accepted = service.at(phone)
    assert (failed.status, accepted.status) == (500, 201)
    first_try, retry = phone.decrypt(failed.body), phone.decrypt(accepted.body)
    assert first_try == retry and first_try["ticket"] == code
    assert failed.body != accepted.body  # encrypted afresh, same message
    row = db.execute("SELECT m.id, m.attempts, m.delivered_at FROM push_messages m "
                     "JOIN tickets t ON t.id = m.ticket_id WHERE t.code = %s",
                     (code,)).fetchone()
    assert row == (row[0], 2, t0 + timedelta(seconds=6)) and str(row[0]) == retry["id"]


async def test_without_vapid_keys_the_pass_sends_nothing_and_subscribing_is_refused(
        gql: GraphQLClient, app: GraphQLClient, token: Minter, db: psycopg.Connection,
        pool: Database, service: PushService) -> None:
    waiting, point = watching(app, token, db, service, 4)
    code = dispatched(app, token, point)
    pending = "SELECT m.attempts, m.delivered_at FROM push_messages m JOIN tickets t " \
              "ON t.id = m.ticket_id WHERE t.code = %s"
    assert db.execute(pending, (code,)).fetchall() == [(0, None)]
    assert await push_pass(pool, None, datetime.now(UTC)) == PushReport(0, 0, 0)
    assert db.execute(pending, (code,)).fetchall() == [(0, None)] and service.at(waiting) == []

    # The app without keys serves no public key and stores no subscription.
    assert gql.client.get("/field/config.json").json()["push"] is None
    phone = service.phone("refused")
    payload = gql.as_(token("GRID_WORKER", cell_point(db, 4)[0])).data(SUBSCRIBE, phone.variables())[
        "subscribePush"]
    assert payload == {"subscription": None, "errors": [{"code": "PUSH_NOT_CONFIGURED",
                                                         "field": None}]}
    assert db.execute("SELECT count(*) FROM push_subscriptions WHERE endpoint = %s",
                      (phone.endpoint,)).fetchone() == (0,)


def test_the_servers_webhook_worker_runs_the_push_pass(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, service: PushService,
        push_settings: Settings) -> None:
    phone, point = watching(app, token, db, service, 6)
    code = dispatched(app, token, point)
    with serving(replace(push_settings, webhook_interval_s=0.2)):
        deadline = time.monotonic() + 20
        while not service.at(phone) and time.monotonic() < deadline:
            time.sleep(0.1)
    [received] = service.at(phone)
    assert phone.decrypt(received.body)["ticket"] == code


def _bad(variables: dict[str, str], **changes: str) -> dict[str, str]:
    return {**variables, **changes}


@pytest.mark.parametrize(("change", "code", "at"), [
    ({"endpoint": "not a url"}, "BAD_USER_INPUT", "endpoint"),
    ({"endpoint": "ftp://push.example.org/x"}, "BAD_USER_INPUT", "endpoint"),
    ({"p256dh": b64url(b"\x04" + b"\x01" * 32)}, "BAD_USER_INPUT", "p256dh"),
    ({"p256dh": b64url(b"\x04" + b"\xff" * 64)}, "BAD_USER_INPUT", "p256dh"),  # off the curve
    ({"p256dh": "***"}, "BAD_USER_INPUT", "p256dh"),
    ({"auth": b64url(b"\x00" * 10)}, "BAD_USER_INPUT", "auth"),
])
def test_malformed_subscriptions_are_refused_and_nothing_is_written(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, service: PushService,
        change: dict[str, str], code: str, at: str) -> None:
    phone = service.phone("malformed")
    variables = _bad(phone.variables(), **change)
    payload = app.as_(token("GRID_WORKER", cell_point(db, 5)[0])).data(SUBSCRIBE, variables)[
        "subscribePush"]
    assert payload == {"subscription": None, "errors": [{"code": code, "field": at}]}
    assert db.execute("SELECT count(*) FROM push_subscriptions WHERE endpoint IN (%s, %s)",
                      (phone.endpoint, variables["endpoint"])).fetchone() == (0,)


@pytest.mark.parametrize("endpoint", [
    "http://push.example.org/send/abc",  # not https
    "https://127.0.0.1/send/abc",  # loopback
    "https://10.1.2.3/send/abc",  # the county's own network
    "https://[::1]/send/abc",
    "https://169.254.169.254/latest",  # link-local (cloud metadata)
])
async def test_production_refuses_plain_http_and_internal_endpoints(
        pool: Database, db: psycopg.Connection, service: PushService, endpoint: str) -> None:
    production = PushEndpoints(https_only=True, check_address=lambda url: endpoint_refused(
        url, allow_private=False))
    phone = service.phone("production")
    worker = Actor("push-prod", Role.GRID_WORKER, (cell_point(db, 5)[0],))
    with pytest.raises(DomainError) as refused:
        await subscribe_push(pool, worker, production, endpoint=endpoint, p256dh=phone.p256dh,
                             auth=b64url(phone.auth))
    assert (refused.value.code.value, refused.value.field) == ("PUSH_ENDPOINT_REFUSED",
                                                               "endpoint")
    assert db.execute("SELECT count(*) FROM push_subscriptions WHERE endpoint = %s",
                      (endpoint,)).fetchone() == (0,)


@pytest.mark.parametrize(("role", "scopes"), [("RESIDENT", ()), ("PLANNER", ()),
                                              ("UNIT", ("U-FIRE_RESCUE",)), ("PUBLIC", ())])
def test_only_field_roles_subscribe(app: GraphQLClient, token: Minter, service: PushService,
                                    role: str, scopes: tuple[str, ...]) -> None:
    client = app if role == "PUBLIC" else app.as_(token(role, *scopes))
    error = client.error(SUBSCRIBE, service.phone("role").variables())
    assert error["extensions"]["code"] == "FORBIDDEN"


def test_a_supervisor_is_matched_by_compound_and_unsubscribes_only_their_own(
        app: GraphQLClient, token: Minter, db: psycopg.Connection, service: PushService) -> None:
    compound = db.execute("SELECT code FROM compounds ORDER BY code LIMIT 1").fetchone()
    assert compound is not None
    phone = service.phone("supervisor")
    supervisor = app.as_(token("SUPERVISOR", compound[0], sub="push-supervisor"))
    assert supervisor.data(SUBSCRIBE, phone.variables())["subscribePush"]["errors"] == []
    stored = db.execute("SELECT subject, role, ticket_key, scopes FROM push_subscriptions "
                        "WHERE endpoint = %s", (phone.endpoint,)).fetchone()
    assert stored == ("push-supervisor", "SUPERVISOR", "compound", [compound[0]])
    someone = app.as_(token("GRID_WORKER", cell_point(db, 5)[0], sub="push-someone"))
    assert someone.data(UNSUBSCRIBE, {"endpoint": phone.endpoint})["unsubscribePush"] == {
        "removed": False, "errors": []}
    assert supervisor.data(UNSUBSCRIBE, {"endpoint": phone.endpoint})["unsubscribePush"] == {
        "removed": True, "errors": []}
    assert db.execute("SELECT count(*) FROM push_subscriptions WHERE endpoint = %s",
                      (phone.endpoint,)).fetchone() == (0,)


def test_push_settings_are_both_or_neither_and_never_show_the_key(
        settings: Settings, vapid: tuple[str, str]) -> None:
    private, public = vapid
    assert settings.push_sender() is None  # unset: push off
    on = replace(settings, vapid_private_key=private, vapid_subject=SUBJECT).push_sender()
    assert on is not None and on.public_key == public
    assert private not in repr(replace(settings, vapid_private_key=private))
    for half in ({"vapid_private_key": private}, {"vapid_subject": SUBJECT}):
        with pytest.raises(ConfigError, match="both"):
            replace(settings, **half).push_sender()
    with pytest.raises(ConfigError) as bad:
        replace(settings, vapid_private_key=private[:-4] + "abc!",
                vapid_subject=SUBJECT).push_sender()
    assert private[:-4] not in str(bad.value)
    with pytest.raises(ConfigError, match="mailto"):
        replace(settings, vapid_private_key=private, vapid_subject="ops").push_sender()
    read = Settings.from_env({"REDGRID_ENV": "development", "REDGRID_VAPID_PRIVATE_KEY": private,
                              "REDGRID_VAPID_SUBJECT": SUBJECT})
    assert (read.vapid_private_key, read.vapid_subject) == (private, SUBJECT)


def test_push_keys_prints_settings_that_turn_push_on() -> None:
    out = CliRunner().invoke(cli, ["push", "keys", "--subject", SUBJECT])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    values = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    assert set(values) == {"REDGRID_VAPID_PRIVATE_KEY", "REDGRID_VAPID_SUBJECT"}
    sender = Settings.from_env({"REDGRID_ENV": "development", **values}).push_sender()
    assert sender is not None and sender.subject == SUBJECT
    assert lines[-1].endswith(sender.public_key)  # the public key the app will be served
    again = CliRunner().invoke(cli, ["push", "keys", "--subject", SUBJECT]).output
    assert again.splitlines()[0] != lines[0]  # a new pair each time
