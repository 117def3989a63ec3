"""CSV exports of planner analytics 规划分析: `/exports/coverage.csv`, `/exports/suggestions.csv`
and `/exports/area-stats.csv`.

UTF-8 with a byte-order mark, so Excel opens the Chinese names. Parameters mirror the GraphQL
fields (kind, radiusM, weight, count, candidates, keepExisting, timeLimitS; level, from, to,
code, byZone) and so do the rules: the same callers, bounds, codes and disclosure. Errors come
in the one envelope (`web/errors.py`): bad input a 400, FORBIDDEN a 403, NOT_FOUND a 404.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.vocabulary import CHANNELS
from resolvers import planning
from resolvers.errors import DomainError, bad_input
from web.errors import PRIVATE, domain_error_response
from web.identity import actor_of

MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"


def _text(request: Request, name: str, default: str | None = None) -> str:
    value = request.query_params.get(name, default)
    if value is None or not value.strip():
        raise bad_input(f"query parameter `{name}` is required", name)
    return value.strip()


def _number(request: Request, name: str, default: str | None = None) -> float:
    text = _text(request, name, default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise bad_input(f"`{name}` must be a number, got {text!r}", name)
    return value


def _whole(request: Request, name: str) -> int:
    text = _text(request, name)
    try:
        return int(text)
    except ValueError:
        raise bad_input(f"`{name}` must be a whole number, got {text!r}", name) from None


def _flag(request: Request, name: str, default: bool) -> bool:
    text = request.query_params.get(name, "").strip().lower()
    if not text:
        return default
    if text not in ("true", "false"):
        raise bad_input(f"`{name}` must be true or false, got {text!r}", name)
    return text == "true"


def _day(request: Request, name: str) -> date:
    text = _text(request, name)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise bad_input(f"`{name}` must be a date YYYY-MM-DD, got {text!r}", name) from None


def _csv(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return Response(out.getvalue().encode("utf-8"), media_type=MEDIA_TYPE, headers={
        **PRIVATE, "Content-Disposition": f'attachment; filename="{filename}"'})


def _upper(request: Request, name: str, default: str | None = None) -> str:
    return _text(request, name, default).upper()


async def _coverage(request: Request) -> Response:
    result = await planning.coverage(
        request.app.state.db, actor_of(request), kind=_upper(request, "kind"),
        radius_m=_number(request, "radiusM"), weight=_upper(request, "weight", "HOUSEHOLDS"))
    return _csv("coverage.csv", (
        "compound_code", "compound_name", "community_code", "community_name", "zone_code",
        "street_code", "weight", "nearest_code", "distance_m", "covered",
    ), ((r.code, r.name, *r.community, r.zone[0], r.street[0], r.weight, r.nearest_code,
         None if r.distance_m is None else round(r.distance_m, 1),
         str(r.covered(result.radius_m)).lower()) for r in result.reaches))


async def _suggestions(request: Request) -> Response:
    req = planning.SiteRequest(
        kind=_upper(request, "kind"), count=_whole(request, "count"),
        radius_m=_number(request, "radiusM"), weight=_upper(request, "weight", "HOUSEHOLDS"),
        candidates=_upper(request, "candidates", "COMPOUND_CENTERS"),
        keep_existing=_flag(request, "keepExisting", True),
        time_limit_s=_number(request, "timeLimitS", "10"))
    s = await planning.suggest_sites(request.app.state.db, actor_of(request), req)
    return _csv("suggestions.csv", (
        "rank", "lon", "lat", "compound_code", "service_room_code", "gain", "share_after",
        "optimal", "bound", "method",
    ), ((x.rank, round(x.candidate.point.lon, 7), round(x.candidate.point.lat, 7),
         x.candidate.compound_code, x.candidate.room_code, x.gain, round(share, 6),
         str(s.optimal).lower(), s.bound, s.method) for x, share in zip(s.sites, s.curve)))


def _share(shares: Sequence[planning.Share], key: str) -> float | None:
    return next((x.share for x in shares if x.key == key), 0.0 if shares else None)


async def _area_stats(request: Request) -> Response:
    rows = await planning.area_stats(
        request.app.state.db, actor_of(request), level=_upper(request, "level"),
        first=_day(request, "from"), last=_day(request, "to"),
        code=request.query_params.get("code") or None, by_zone=_flag(request, "byZone", False))
    return _csv("area-stats.csv", (
        "code", "name", "exact", "tickets", "resolved", "on_time_rate", "mean_handling_hours",
        "rated", "mean_rating", "month_on_month", "year_on_year",
        *(f"share_{c.lower()}" for c in CHANNELS), "top_items",
    ), ((a.code, a.name, str(a.exact).lower(), a.tickets, a.resolved, a.on_time_rate,
         a.mean_handling_hours, a.rated, a.mean_rating, a.month_on_month, a.year_on_year,
         *(_share(a.channels, c) for c in CHANNELS),
         "; ".join(f"{i.key} {i.name} {'' if i.tickets is None else i.tickets}"
                   for i in a.top_items)) for a in rows))


def _guarded(export: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await export(request)
        except DomainError as exc:
            return domain_error_response(exc)

    return endpoint


export_routes = [
    Route("/coverage.csv", _guarded(_coverage)),
    Route("/suggestions.csv", _guarded(_suggestions)),
    Route("/area-stats.csv", _guarded(_area_stats)),
]
