"""Open311 GeoReport v2 for civic apps: services are the 46 demand items 诉求事项, a service
request is a ticket 工单.

A registered client (an `api_key` → name, role, scope codes, channel) files like
`createTicket` does as its role, on its channel, idempotent on the `token` it sends. Reads
follow RedGrid's disclosure rule, not the specification's open reads: a client sees as records
the requests it filed and those its role's ticket scope covers; without an `api_key` there are
no records at all (`resolvers/disclosure.py`). Our six statuses map to the specification's
`open`/`closed`; the detailed status travels in `detailed_status`.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from db.database import Database
from db.queries import open311 as queries
from db.queries.open311 import RequestExtras, RequestQuery
from db.queries.places import zone_communities
from db.vocabulary import OPEN_STATUSES, TICKET_STATUSES
from geo.types import BBox, Crs
from resolvers.actor import Actor, Role
from resolvers.disclosure import SHANGHAI, disclosure
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.inputs import bbox_wgs84, point_wgs84
from resolvers.policy import FILING_CHANNELS
from resolvers.ticket_create import CreateTicketArgs, create_ticket

STATUS_GROUPS: Mapping[str, tuple[str, ...]] = {
    "open": OPEN_STATUSES,
    "closed": tuple(s for s in TICKET_STATUSES if s not in OPEN_STATUSES),
}
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
MAX_OFFSET = 10_000
MAX_IDS = 200
# The specification's default window when neither ids nor dates are given.
DEFAULT_WINDOW = timedelta(days=90)
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Attribute:
    """A service attribute the client collects (the specification's service definition)."""

    code: str
    description: str
    required: bool
    datatype: str = "string"
    values: tuple[tuple[str, str], ...] = ()


# Items about one building or lift: the county's staff need to know which one.
_BUILDING = Attribute("building", "楼栋号 (building number)", required=True)
_ENTRANCE = Attribute("entrance", "单元号 (entrance number)", required=False)
_TRAPPED = Attribute("people_trapped", "是否有人被困 (is anyone trapped)", required=True,
                     datatype="singlevaluelist", values=(("yes", "有人被困"), ("no", "无人被困")))
ATTRIBUTES: Mapping[str, tuple[Attribute, ...]] = {
    "P11": (_BUILDING, _ENTRANCE, _TRAPPED),
    "P12": (_BUILDING, _ENTRANCE),
    "P13": (_BUILDING, _ENTRANCE),
    "P14": (_BUILDING,),
    "P30": (_BUILDING, _ENTRANCE),
    "P33": (_BUILDING, _ENTRANCE),
}


def key_hash(api_key: str) -> str:
    """The stored form of an api_key: its SHA-256 (keys are 256 random bits, so unsalted)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class Client:
    """A registered Open311 client, and the caller it files and reads as."""

    id: int
    name: str
    channel: str
    actor: Actor


def subject_of(name: str) -> str:
    return f"open311:{name}"


async def register_client(db: Database, *, name: str, role: Role, channel: str,
                          scopes: Sequence[str] = ()) -> str:
    """Registers a client and returns its api_key (shown once: only its hash is kept)."""
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise bad_input("the client's name must be 1–64 characters", "name")
    if channel not in FILING_CHANNELS.get(role, frozenset()):
        allowed = ", ".join(sorted(FILING_CHANNELS.get(role, frozenset()))) or "none"
        raise bad_input(f"{role.value} files on {allowed}, not {channel}", "channel")
    api_key = secrets.token_urlsafe(32)
    async with db.transaction() as conn:
        try:
            await queries.insert_client(conn, name=name, key_hash=key_hash(api_key),
                                        role=role.value, scopes=scopes, channel=channel)
        except queries.DuplicateClientName:
            raise DomainError(ErrorCode.CONFLICT, f"a client named {name!r} exists already",
                              "name") from None
    return api_key


async def authenticate(db: Database, api_key: str | None) -> Client:
    """The client an api_key names; UNAUTHENTICATED when it names none."""
    if not api_key:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "an api_key is required", "api_key")
    async with db.connection() as conn:
        row = await queries.client_by_key_hash(conn, key_hash(api_key))
        if row is None:
            raise DomainError(ErrorCode.UNAUTHENTICATED, "the api_key is not valid", "api_key")
        actor = Actor(subject_of(row.name), Role(row.role), tuple(row.scopes))
        if actor.names_zones:  # answers for the zones' communities of today
            actor = actor.in_zones(await zone_communities(conn, actor.scopes))
    return Client(int(row.id), str(row.name), str(row.channel), actor)


# --- services -------------------------------------------------------------------------------


def _service(row: Any) -> dict[str, Any]:
    return {"service_code": row.code, "service_name": row.name_zh,
            "description": f"{row.name_en} ({row.category_en})",
            "metadata": row.code in ATTRIBUTES, "type": "realtime",
            "keywords": f"{row.category_code}, {row.name_en}", "group": row.category_zh}


async def services(db: Database) -> list[dict[str, Any]]:
    """The 46 demand items as services, grouped by their category."""
    async with db.connection() as conn:
        return [_service(r) for r in await queries.services(conn)]


async def service_definition(db: Database, code: str) -> dict[str, Any]:
    """The attributes a client collects for a service; NOT_FOUND for an unknown code."""
    if code not in {s["service_code"] for s in await services(db)}:
        raise DomainError(ErrorCode.NOT_FOUND, f"no service {code!r}; services are P01–P46",
                          "service_code")
    return {"service_code": code, "attributes": [
        {"variable": True, "code": a.code, "datatype": a.datatype, "required": a.required,
         "datatype_description": None, "order": n, "description": a.description,
         "values": [{"key": k, "name": v} for k, v in a.values]}
        for n, a in enumerate(ATTRIBUTES.get(code, ()), start=1)]}


# --- filing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRequest:
    """A POST to `requests`, as the client sent it (strings, as form fields are)."""

    service_code: str | None
    lat: str | None
    long: str | None
    description: str | None
    address_string: str | None = None
    address_id: str | None = None
    media_url: str | None = None
    device_id: str | None = None
    account_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    token: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def _required(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise bad_input(f"`{name}` is required", name)
    return value.strip()


def _coordinate(value: str | None, name: str) -> float:
    text = _required(value, name)
    try:
        return float(text)
    except ValueError:
        raise bad_input(f"`{name}` must be a number, got {text!r}", name) from None


def _optional(value: str | None, name: str, maximum: int,
              pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
    text = (value or "").strip() or None
    if text is None:
        return None
    if len(text) > maximum:
        raise bad_input(f"`{name}` must be at most {maximum} characters", name)
    if pattern is not None and not pattern.match(text):
        raise bad_input(f"`{name}` must be {what}", name)
    return text


def _attributes(service_code: str, given: Mapping[str, str]) -> dict[str, str]:
    # Attributes the service does not define are dropped, not refused: senders such as
    # FixMyStreet add their own (`title`, `report_url`, `external_id`) to every request.
    known = {a.code: a for a in ATTRIBUTES.get(service_code, ())}
    out: dict[str, str] = {}
    for code, attribute in known.items():
        value = (given.get(code) or "").strip()
        if not value:
            if attribute.required:
                raise bad_input(f"service {service_code} needs attribute {code!r} "
                                f"({attribute.description})", f"attribute[{code}]")
            continue
        if attribute.values and value not in {k for k, _ in attribute.values}:
            keys = ", ".join(k for k, _ in attribute.values)
            raise bad_input(f"attribute {code!r} is one of {keys}, got {value!r}",
                            f"attribute[{code}]")
        if len(value) > 64:
            raise bad_input(f"attribute {code!r} must be at most 64 characters",
                            f"attribute[{code}]")
        out[code] = value
    return out


async def submit(db: Database, client: Client, req: NewRequest) -> str:
    """Files the request as a ticket on the client's channel and returns its code; the same
    `token` with the same request returns the same code."""
    if req.address_id:
        raise bad_input("address_id is not supported: send lat and long", "address_id")
    service_code = _required(req.service_code, "service_code")
    if req.lat is None and req.long is None and req.address_string:
        raise bad_input("RedGrid locates requests by lat and long; address_string alone "
                        "is not enough", "lat")
    lat = _coordinate(req.lat, "lat")
    lon = _coordinate(req.long, "long")
    attributes = _attributes(service_code, req.attributes)
    name = " ".join(p for p in ((req.last_name or "").strip(), (req.first_name or "").strip())
                    if p) or None
    extras = RequestExtras(
        client_id=client.id,
        address_string=_optional(req.address_string, "address_string", 256),
        media_url=_optional(req.media_url, "media_url", 2000, _URL, "an http(s) URL"),
        device_id=_optional(req.device_id, "device_id", 128),
        account_id=_optional(req.account_id, "account_id", 128),
        email=_optional(req.email, "email", 254, _EMAIL, "an e-mail address"),
        attributes=json.dumps(attributes, ensure_ascii=False, sort_keys=True))
    token = _optional(req.token, "token", 128)

    async def keep_extras(conn: AsyncConnection[Any], ticket_id: int) -> None:
        await queries.insert_request(conn, ticket_id, extras)

    try:
        point = point_wgs84(lon, lat, Crs.WGS84)
    except DomainError as exc:
        raise _open311_field(exc) from None
    args = CreateTicketArgs(point=point, item_code=service_code,
                            description=req.description or "", channel=client.channel,
                            reporter_name=name, reporter_phone=req.phone)
    try:
        return await create_ticket(db, args, idempotency_key=token, actor=client.actor,
                                   on_created=keep_extras,
                                   extra=json.dumps(extras.__dict__, sort_keys=True))
    except DomainError as exc:
        raise _open311_field(exc) from None


# The GraphQL input paths create_ticket names, as the form fields a client sent.
_FIELDS = {"input.description": "description", "input.itemCode": "service_code",
           "input.point": "lat", "point": "lat", "point.lat": "lat", "point.lon": "long",
           "input.reporterName": "last_name",
           "input.reporterPhone": "phone", "input.channel": "api_key", "idempotencyKey": "token"}


def _open311_field(exc: DomainError) -> DomainError:
    named = _FIELDS.get(exc.field or "", exc.field)
    return DomainError(exc.code, exc.message, named)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestFilter:
    """A GET of `requests`, parsed: ids, service, period, statuses, box, page."""

    codes: Sequence[str] | None = None
    service_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: Sequence[str] | None = None  # `open`, `closed`
    bbox: tuple[float, float, float, float] | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


def _query(f: RequestFilter, now: datetime) -> tuple[RequestQuery, int, int]:
    if f.codes is not None and len(f.codes) > MAX_IDS:
        raise bad_input(f"at most {MAX_IDS} service_request_id values", "service_request_id")
    if f.page < 1:
        raise bad_input(f"`page` must be at least 1, got {f.page}", "page")
    if f.page_size < 1:
        raise bad_input(f"`page_size` must be at least 1, got {f.page_size}", "page_size")
    size = min(f.page_size, MAX_PAGE_SIZE)
    offset = (f.page - 1) * size
    if offset > MAX_OFFSET:
        raise DomainError(ErrorCode.OFFSET_TOO_LARGE, f"pages reach {MAX_OFFSET:,} requests; "
                          "narrow start_date and end_date instead", "page")
    statuses: list[str] | None = None
    if f.status is not None:
        bad = sorted(set(f.status) - set(STATUS_GROUPS))
        if bad:
            raise bad_input(f"`status` is open or closed, got {bad[0]!r}", "status")
        statuses = [s for group in f.status for s in STATUS_GROUPS[group]]
    start, end = f.start, f.end
    if start is not None and end is not None and start > end:
        raise bad_input("`start_date` must not be after `end_date`", "start_date")
    if f.codes is None and start is None and end is None:
        start = now - DEFAULT_WINDOW
    box: BBox | None = bbox_wgs84(*f.bbox, Crs.WGS84, field="bbox") if f.bbox else None
    return RequestQuery(codes=f.codes, item_code=f.service_code, start=start, end=end,
                        statuses=statuses, bbox=box), size, offset


def _stamp(t: datetime | None) -> str | None:
    return t.astimezone(SHANGHAI).isoformat(timespec="seconds") if t is not None else None


def _request(row: Any) -> dict[str, Any]:
    open_ = row.status in OPEN_STATUSES
    return {
        "service_request_id": row.code,
        "status": "open" if open_ else "closed",
        "detailed_status": row.status,
        "status_notes": None,
        "service_name": row.item_name,
        "service_code": row.item_code,
        "description": row.description,
        "agency_responsible": row.unit_name,
        "service_notice": None,
        "requested_datetime": _stamp(row.created_at),
        "updated_datetime": _stamp(row.updated_at),
        "expected_datetime": _stamp(row.due_at) if open_ else None,
        "address": row.address_string or row.compound_name or row.community_name,
        "address_id": None,
        "zipcode": None,
        "lat": row.lat,
        "long": row.lon,
        "media_url": row.media_url,
    }


async def find_requests(db: Database, client: Client, f: RequestFilter, *,
                        now: datetime | None = None) -> list[dict[str, Any]]:
    """The requests the client may see as records, newest first, one page."""
    q, size, offset = _query(f, now or datetime.now(UTC))
    scope = disclosure(client.actor).records
    async with db.connection() as conn:
        rows = await queries.requests(conn, q, scope=scope, client_id=client.id, limit=size,
                                      offset=offset)
    return [_request(r) for r in rows]


async def find_request(db: Database, client: Client, code: str) -> dict[str, Any]:
    """One request; NOT_FOUND alike whether it does not exist or lies outside what the client
    may see (a client learns nothing about tickets it may not read)."""
    found = await find_requests(db, client, RequestFilter(codes=[code], page_size=1))
    if not found:
        raise DomainError(ErrorCode.NOT_FOUND, f"no request {code!r} that you may see",
                          "service_request_id")
    return found[0]
