"""What the map page needs to start and to sign a user in.

`GET /map-config.json`: the sign-in mode (development tokens, the county identity provider by
authorization code + PKCE, or none), the basemap and its datum, the demo months and the demand
catalogue's categories and items. `POST /auth/dev-token` mints a development token for a role
and scope codes; it exists only on a development box (a 404 in production, where tokens come
from the identity provider), and answers callers on the same machine only (403 `FORBIDDEN`
to any other): a development server reachable from the network must not hand out tokens.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db import vocabulary
from db.catalogue import load_catalogue
from db.demo.timeline import today
from db.queries.disclosure import MIN_COUNT
from db.queries.places import KnownScopes, known_codes
from db.vocabulary import TIME_ZONE
from resolvers import policy
from resolvers.actor import Actor, Role
from resolvers.errors import ErrorCode
from web.auth import AuthError, check_scopes, mint
from web.clients import client_address, is_loopback
from web.errors import PRIVATE, error_response
from web.settings import Settings

DEV_TOKEN_TTL_S = 12 * 3600
MAX_SCOPES = 20
# Roles whose ticket scope is built from their codes: a token without one sees nothing.
SCOPED = frozenset({Role.GRID_WORKER, Role.SUPERVISOR, Role.COMMUNITY_STAFF,
                    Role.ZONE_OFFICER, Role.STREET_OFFICER, Role.UNIT})
_SUBJECT = re.compile(r"[A-Za-z0-9._@-]{1,64}")



class SignInError(Exception):
    """A dev-token request that cannot be granted: a stable code, the field, a message."""

    def __init__(self, message: str, field: str | None,
                 code: ErrorCode = ErrorCode.BAD_USER_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


def _error(exc: SignInError) -> Response:
    return error_response(exc.code, exc.message, exc.field)


def months(first: date, last: date) -> list[str]:
    """The months from `first` to `last` as YYYY-MM."""
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month.strftime("%Y-%m"))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


@dataclass(frozen=True)
class DataSpan:
    """What the data covers: its months (the heat map's time slider steps through them) and
    its last day (the planner panel's periods end with it)."""

    months: list[str]
    last_day: date | None

    def last_day_by(self, day: date) -> date | None:
        """The data's last day as of `day`: a demo seeded for a later day ends today."""
        return None if self.last_day is None else min(self.last_day, day)


async def data_span(request: Request) -> DataSpan:
    """The demo's span as its seeding recorded it (its months and as-of day), else that of the
    tickets; read once per server."""
    state = request.app.state
    found: DataSpan | None = getattr(state, "data_span", None)
    if found is None:
        async with state.db.connection() as conn:
            row = await (await conn.execute(_SPAN)).fetchone()
        first, last, last_day = row if row is not None else (None, None, None)
        found = DataSpan(
            [] if first is None else months(date.fromisoformat(f"{first}-01"),
                                            date.fromisoformat(f"{last}-01")),
            None if last_day is None else date.fromisoformat(last_day))
        state.data_span = found
    return found


_SPAN = f"""SELECT coalesce((SELECT value FROM dataset_info WHERE key = 'first_month'),
    (SELECT to_char(min(created_at) AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM') FROM tickets))
    AS first,
  coalesce((SELECT value FROM dataset_info WHERE key = 'last_month'),
    (SELECT to_char(max(created_at) AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM') FROM tickets))
    AS last,
  coalesce((SELECT value FROM dataset_info WHERE key = 'as_of'),
    (SELECT to_char(max(created_at) AT TIME ZONE '{TIME_ZONE}', 'YYYY-MM-DD') FROM tickets))
    AS last_day"""


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    items = load_catalogue()
    categories = {i.category_code: i.category_zh for i in items}
    return {
        "categories": [{"code": c, "name": n} for c, n in sorted(categories.items())],
        "items": {i.code: {"name": i.name_zh, "category": i.category_code} for i in items},
    }


def vocabulary_config() -> dict[str, Any]:
    """The ticket vocabulary with its Chinese labels, the time zone days are counted in, the
    count under which the public's counts are withheld and the roles with exact counts (who
    alone may ask the heat map for several months or one category), so the page keeps no copy
    of its own."""
    return {
        "statuses": {s.value: label for s, label in vocabulary.STATUS_LABELS.items()},
        "openStatuses": list(vocabulary.OPEN_STATUSES),
        "levels": {v.value: label for v, label in vocabulary.LEVEL_LABELS.items()},
        "channels": {c.value: label for c, label in vocabulary.CHANNEL_LABELS.items()},
        "withheldUnder": MIN_COUNT,
        "exactCountRoles": sorted(role.value for role in policy.anywhere(
            policy.Operation.COUNT_EXACTLY) if role is not Role.SYSTEM),
        "timeZone": {"name": vocabulary.TIME_ZONE, "utcOffset": vocabulary.UTC_OFFSET_ISO},
    }


def dev_sign_in(settings: Settings) -> bool:
    """Development tokens are offered outside production, where this service signs them (with
    the provider's keys configured, a locally signed token would be refused anyway)."""
    return not settings.production and bool(settings.jwt_secret) and not settings.jwks_url


def sign_in_mode(settings: Settings, local: bool) -> str:
    """How the page signs in; `local`: whether the caller is on this machine, the only place
    development tokens go to."""
    if dev_sign_in(settings):
        return "dev" if local else "none"
    return "oidc" if settings.oidc_authorize_url else "none"


def _local(request: Request, settings: Settings) -> bool:
    return is_loopback(client_address(request.scope, settings.trusted_proxies))


def map_config(settings: Settings, local: bool = True,
               data: DataSpan | None = None) -> dict[str, Any]:
    """The page's configuration; nothing secret (it goes to every browser)."""
    mode = sign_in_mode(settings, local)
    sign_in: dict[str, Any] = {"mode": mode}
    if mode == "oidc":
        sign_in |= {"authorizeUrl": settings.oidc_authorize_url,
                    "tokenUrl": settings.oidc_token_url,
                    "clientId": settings.oidc_client_id, "scope": settings.oidc_scope}
    if mode == "dev":
        sign_in["roles"] = [r.value for r in Role if r not in (Role.SYSTEM, Role.PUBLIC)]
    basemap = None
    if settings.basemap_url:
        basemap = {"url": settings.basemap_url, "crs": settings.basemap_crs,
                   "attribution": settings.basemap_attribution}
    last_day = data.last_day_by(today()) if data else None
    return {"signIn": sign_in, "basemap": basemap, "months": data.months if data else [],
            "lastDay": last_day.isoformat() if last_day else None, **catalogue(),
            **vocabulary_config()}


def _role(raw: object) -> Role:
    if not isinstance(raw, str):
        raise SignInError("role is required: one of the role names", "role")
    try:
        role = Role(raw.strip().upper())
    except ValueError:
        role = Role.SYSTEM
    if role in (Role.SYSTEM, Role.PUBLIC):
        allowed = ", ".join(r.value for r in Role if r not in (Role.SYSTEM, Role.PUBLIC))
        raise SignInError(f"unknown role {raw!r}; one of {allowed}", "role", ErrorCode.UNKNOWN_ROLE)
    return role


def _scopes(raw: object, role: Role) -> list[str]:
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise SignInError("scopes must be a list of codes", "scopes")
    scopes = sorted({s.strip() for s in raw if s.strip()})
    if len(scopes) > MAX_SCOPES:
        raise SignInError(f"at most {MAX_SCOPES} scope codes", "scopes")
    if role in SCOPED and not scopes:
        raise SignInError(f"a {role.value} answers for some places or units: give their codes",
                          "scopes", ErrorCode.SCOPE_REQUIRED)
    return scopes


def _subject(raw: object, role: Role) -> str:
    if raw is None or raw == "":
        return f"dev-{role.value.lower()}"
    if not isinstance(raw, str) or not _SUBJECT.fullmatch(raw):
        raise SignInError("sub must be 1-64 letters, digits or . _ @ -", "sub")
    return raw


KnownCodes = Callable[[list[str]], Awaitable[KnownScopes]]


@dataclass(frozen=True)
class DevGrant:
    """A development token request that passed every check: who the token names."""

    role: Role
    scopes: list[str]
    subject: str


async def dev_grant(body: object, known: KnownCodes) -> DevGrant:
    """Checks a development token request `{role, scopes, sub}`: the one rule behind both
    `POST /auth/dev-token` and `redgrid token`. `known` tells which codes exist (asked only
    when there are scope codes). Raises SignInError."""
    if not isinstance(body, dict):
        raise SignInError("the body must be a JSON object {role, scopes, sub?}", "body")
    role = _role(body.get("role"))
    scopes = _scopes(body.get("scopes"), role)
    subject = _subject(body.get("sub"), role)
    if scopes:
        await _check_codes(await known(scopes), subject, role, scopes)
    return DevGrant(role, scopes, subject)


async def _check_codes(known: KnownScopes, subject: str, role: Role, scopes: list[str]) -> None:
    unknown = sorted(set(scopes) - known.codes)
    if unknown:
        raise SignInError(f"unknown scope codes: {', '.join(unknown)} (street, zone, community, "
                          "grid cell, compound or unit codes)", "scopes", ErrorCode.UNKNOWN_SCOPE)
    try:  # the same rule the token will meet at every request
        check_scopes(Actor(subject, role, tuple(scopes)), known)
    except AuthError as exc:
        raise SignInError(str(exc), "scopes", ErrorCode.UNKNOWN_SCOPE) from None


def routes(settings: Settings) -> list[Route]:
    """The sign-in routes for these settings: no dev-token route in production."""

    async def config(request: Request) -> Response:
        return _json(map_config(settings, _local(request, settings), await data_span(request)),
                     headers={"Cache-Control": "private, no-cache"})

    async def dev_token(request: Request) -> Response:
        if not _local(request, settings):
            return _error(SignInError("development tokens are issued to callers on this machine "
                                      "only", None, ErrorCode.FORBIDDEN))
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(SignInError("the body must be JSON {role, scopes, sub?}", "body"))
        async def known(codes: list[str]) -> KnownScopes:
            async with request.app.state.db.connection() as conn:
                return await known_codes(conn, codes)

        try:
            grant = await dev_grant(body, known)
        except SignInError as exc:
            return _error(exc)
        expires_at = datetime.fromtimestamp(int(time.time()) + DEV_TOKEN_TTL_S, UTC)
        token = mint(settings.jwt_secret, subject=grant.subject, role=grant.role,
                     scopes=grant.scopes, ttl_s=DEV_TOKEN_TTL_S)
        return _json({"token": token, "expiresAt": expires_at.isoformat(),
                      "role": grant.role.value, "scopes": grant.scopes, "sub": grant.subject},
                     headers=PRIVATE)

    out = [Route("/map-config.json", config)]
    if dev_sign_in(settings):
        out.append(Route("/auth/dev-token", dev_token, methods=["POST"]))
    return out
