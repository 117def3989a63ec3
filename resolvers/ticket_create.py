"""Creating a ticket 工单: validate, locate, route to the responsible unit, set the deadline."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection

from db.catalogue import DEADLINES
from db.database import Database
from db.queries import ticket_writes as writes
from db.responsibility import route_unit, route_units
from db.vocabulary import SHANGHAI
from geo.types import LonLat
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode, bad_input, check_same_request
from resolvers.photos import MediaAccess, attaching, read_photos
from resolvers.places import locate_on
from resolvers.policy import FILING_CHANNELS, Operation

MAX_DESCRIPTION = 2000
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


def check_channel(actor: Actor, channel: str) -> None:
    """FORBIDDEN unless the caller's role files tickets on `channel` (the policy's
    FILE_TICKET and its channel table)."""
    allowed = FILING_CHANNELS.get(actor.role, frozenset())
    if not policy.may(actor, Operation.FILE_TICKET) or not allowed:
        who = "ask the community" if actor.signed_in else "sign in as a resident"
        raise DomainError(ErrorCode.FORBIDDEN, f"{actor.role.value} callers do not file "
                          f"tickets; {who}", "input.channel")
    if channel not in allowed:
        raise DomainError(ErrorCode.FORBIDDEN, f"{actor.role.value} callers file tickets on "
                          f"{', '.join(sorted(allowed))}, not {channel}", "input.channel")


@dataclass(frozen=True)
class CreateTicketArgs:
    point: LonLat
    item_code: str
    description: str
    channel: str
    reporter_name: str | None = None
    reporter_phone: str | None = None


def _validated(args: CreateTicketArgs) -> CreateTicketArgs:
    description = args.description.strip()
    if not 1 <= len(description) <= MAX_DESCRIPTION:
        raise bad_input(f"description must be 1–{MAX_DESCRIPTION} characters after trimming, "
                        f"got {len(description)}", "input.description")
    name = (args.reporter_name or "").strip() or None
    if name is not None and len(name) > 64:
        raise bad_input("reporterName must be at most 64 characters", "input.reporterName")
    phone = (args.reporter_phone or "").strip() or None
    if phone is not None and not _PHONE.match(phone):
        raise bad_input("reporterPhone must be a phone number of 5–20 digits",
                        "input.reporterPhone")
    return CreateTicketArgs(args.point, args.item_code, description, args.channel, name, phone)


def request_hash(args: CreateTicketArgs, extra: str = "") -> str:
    """What an idempotency key is checked against: the input, and `extra` for what a route
    keeps beside the ticket (left out when empty, so earlier hashes stay valid)."""
    fields = [args.point.lon, args.point.lat, args.item_code, args.description, args.channel,
              args.reporter_name, args.reporter_phone, *([extra] if extra else [])]
    body = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


Hook = Callable[[AsyncConnection[Any], int], Awaitable[None]]


def _both(first: Hook | None, second: Hook | None) -> Hook | None:
    if first is None or second is None:
        return first or second

    async def hook(conn: AsyncConnection[Any], ticket_id: int) -> None:
        await first(conn, ticket_id)
        await second(conn, ticket_id)

    return hook


async def create_ticket(db: Database, args: CreateTicketArgs, *,
                        idempotency_key: str | None, actor: Actor,
                        now: datetime | None = None, on_created: Hook | None = None,
                        extra: str = "", photos: Sequence[Any] | None = None,
                        media: MediaAccess | None = None) -> str:
    """Creates a ticket and returns its code; the same key and input return the same ticket.

    The caller's role decides the channels it may file on, and staff and field roles file
    only inside their own scope. `on_created(conn, ticket_id)` writes what a route keeps
    beside the ticket in the same transaction (Open311's media URL, device, e-mail); `extra`
    is that in text, so that the same key with different extras is a conflict too. `photos`
    (uploads) are checked before anything is written and stored with the ticket only (see
    resolvers/photos.py)."""
    check_channel(actor, args.channel)
    shots = await read_photos(photos, "photos")
    async with attaching(db, media, shots, actor.subject, "created") as attach:
        return await _create_ticket(
            db, args, idempotency_key=idempotency_key, actor=actor, now=now,
            on_created=_both(on_created, attach.hook),
            extra="\n".join(x for x in (extra, attach.fingerprint) if x))


async def _create_ticket(db: Database, args: CreateTicketArgs, *, idempotency_key: str | None,
                         actor: Actor, now: datetime | None, on_created: Hook | None,
                         extra: str) -> str:
    caller = actor.subject
    reporter_subject = actor.subject if policy.files_own_reports(actor) else None
    args = _validated(args)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
        raise bad_input("idempotencyKey must be 1–128 characters", "idempotencyKey")
    digest = request_hash(args, extra)
    if idempotency_key is not None:
        async with db.connection() as conn:
            earlier = await writes.ticket_by_idempotency_key(conn, caller, idempotency_key)
        if earlier is not None:
            return _same_request(earlier, digest)
    now = now or datetime.now(UTC)
    async with db.transaction() as conn:
        # Located in the transaction that files the ticket, with the cells held: a place
        # import committing meanwhile cannot leave it in a cell that is gone or has moved.
        await writes.hold_cells(conn)
        place = await locate_on(conn, args.point, field="input.point")
        spot = policy.Target(f"grid cell {place.cell_code}", cell_code=place.cell_code,
                             compound_code=place.compound_code)
        if not policy.may(actor, Operation.FILE_TICKET, spot):
            raise DomainError(ErrorCode.FORBIDDEN, f"the point lies in grid cell "
                              f"{place.cell_code}, outside your scope", "input.point")
        item = await writes.routing(conn, args.item_code, place.compound_code,
                                    now.astimezone(SHANGHAI).date())
        if item is None:
            raise DomainError(ErrorCode.UNKNOWN_ITEM_CODE,
                              f"no demand item {args.item_code!r}; items are P01–P46",
                              "input.itemCode")
        where = {"community_code": place.community_code, "street_code": place.street_code,
                 "company_code": item.company_code, "county_units": item.county_units or {}}
        unit = route_unit(item.lead_unit_kind, **where)  # type: ignore[arg-type]
        cooperating = route_units(list(item.cooperating_unit_kinds), **where)
        created = await writes.insert_ticket(conn, writes.NewTicket(
            item_code=item.code, channel=args.channel, description=args.description,
            reporter_name=args.reporter_name, reporter_phone=args.reporter_phone,
            lon=args.point.lon, lat=args.point.lat, cell_code=place.cell_code,
            compound_code=place.compound_code, community_code=place.community_code,
            zone_code=place.zone_code, street_code=place.street_code, unit_code=unit, now=now,
            due_at=now + DEADLINES[item.deadline_class], caller=caller, key=idempotency_key,
            request_hash=digest if idempotency_key else None, actor=caller,
            reporter_subject=reporter_subject, cooperating=tuple(cooperating),
        ))
        if created is not None and on_created is not None:
            await on_created(conn, created.id)
    if created is not None:
        return str(created.code)
    # A concurrent retry with the same key won the insert: answer with its ticket.
    async with db.connection() as conn:
        earlier = await writes.ticket_by_idempotency_key(conn, caller, str(idempotency_key))
    assert earlier is not None
    return _same_request(earlier, digest)


def _same_request(earlier: Any, digest: str) -> str:
    check_same_request(earlier.request_hash, digest)
    return str(earlier.code)


DUPLICATE_RADIUS_M = policy.NEARBY_RADIUS_M
DUPLICATE_WINDOW = policy.NEARBY_WINDOW


def exact_duplicate_distances(actor: Actor) -> bool:
    """Whether the caller reads possible duplicates' distances exactly (else rounded to 50 m)."""
    return policy.may(actor, Operation.SEE_DUPLICATE_DISTANCES)


async def possible_duplicates(db: Database, ticket: Any) -> list[Any]:
    """Open tickets of the same item within 100 m of a new ticket (a ticket row), from the 30
    days before it was filed."""
    async with db.connection() as conn:
        return await writes.open_duplicates(conn, code=ticket.code, item_code=ticket.item_code,
                                            lon=ticket.lon, lat=ticket.lat,
                                            radius_m=DUPLICATE_RADIUS_M,
                                            since=ticket.created_at - DUPLICATE_WINDOW)
