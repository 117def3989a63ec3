"""Exports for county staff who work in Excel: tickets 工单 and planner analytics 规划分析, each
as CSV and XLSX: `/exports/{tickets,coverage,suggestions,area-stats}.{csv,xlsx}`.

CSV is UTF-8 with a byte-order mark, so Excel opens the Chinese names; XLSX is written row by
row with openpyxl's write-only mode. Both are streamed, and both carry the same rows (times as
ISO 8601 with +08:00). Parameters mirror the GraphQL fields (kind, radiusM, weight, count,
candidates, keepExisting, timeLimitS; level, from, to, code, byZone; for tickets status,
communityCode, cellCode, itemCode, from, to) and so do the rules: the same callers, bounds,
codes and disclosure (tickets are scoped exactly as the `tickets` query is; the public and
planners get 403; at most `MAX_EXPORT_ROWS` tickets, else EXPORT_TOO_LARGE before any row is
sent). Errors come in the one envelope (`web/errors.py`): bad input a 400, FORBIDDEN a 403,
NOT_FOUND a 404.
"""

from __future__ import annotations

import asyncio
import csv
import inspect
import io
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from db import labels
from db.queries.tickets import TicketFilterArgs
from db.vocabulary import CHANNELS, SHANGHAI
from resolvers import planning, tickets
from resolvers.errors import DomainError
from web import params
from web.errors import PRIVATE, domain_error_response
from web.identity import actor_of

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff"
CSV_CHUNK_ROWS = 500
XLSX_IN_MEMORY = 4 * 1024 * 1024  # larger workbooks go to a temporary file


@dataclass(frozen=True)
class Table:
    """An export's rows: `name` is its ASCII file name, `title` its Chinese one (also the
    sheet's name)."""

    name: str
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]


def _disposition(table: Table, extension: str) -> str:
    """An attachment with an ASCII name for old clients and the Chinese one (RFC 6266 / 5987)
    for Excel and browsers."""
    chinese = quote(f"{table.title}.{extension}", safe="")
    return f"attachment; filename=\"{table.name}.{extension}\"; filename*=UTF-8''{chinese}"


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).isoformat()
    return value


def _csv_chunks(table: Table) -> Iterator[bytes]:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.header)
    for i, row in enumerate(table.rows, 1):
        writer.writerow(["" if v is None else _cell(v) for v in row])
        if i % CSV_CHUNK_ROWS == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode("utf-8")


def _csv(table: Table) -> Response:
    return StreamingResponse(_csv_chunks(table), media_type=CSV_TYPE, headers={
        **PRIVATE, "Content-Disposition": _disposition(table, "csv")})


def _xlsx_file(table: Table) -> IO[bytes]:
    """The workbook written row by row (openpyxl's write-only mode) into a temporary file."""
    from openpyxl import Workbook  # loaded with the first workbook asked for (about 5 MB)

    book = Workbook(write_only=True)
    sheet = book.create_sheet(table.title)
    sheet.append(list(table.header))
    for row in table.rows:
        sheet.append([_cell(v) for v in row])
    spool = tempfile.SpooledTemporaryFile(max_size=XLSX_IN_MEMORY)
    book.save(spool)
    spool.seek(0)
    return spool


async def _xlsx(table: Table) -> Response:
    spool = await asyncio.to_thread(_xlsx_file, table)  # CPU-bound: off the event loop

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
                yield chunk
        finally:
            spool.close()

    return StreamingResponse(chunks(), media_type=XLSX_TYPE, headers={
        **PRIVATE, "Content-Disposition": _disposition(table, "xlsx")})


async def _coverage(request: Request) -> Table:
    result = await planning.coverage(
        request.app.state.db, actor_of(request), kind=params.word(request, "kind"),
        radius_m=params.number(request, "radiusM"),
        weight=params.word(request, "weight", "HOUSEHOLDS"))
    return Table("coverage", "覆盖分析", (
        "compound_code", "compound_name", "community_code", "community_name", "zone_code",
        "street_code", "weight", "nearest_code", "distance_m", "covered",
    ), ((r.code, r.name, *r.community, r.zone[0], r.street[0], r.weight, r.nearest_code,
         None if r.distance_m is None else round(r.distance_m, 1),
         str(r.covered(result.radius_m)).lower()) for r in result.reaches))


async def _suggestions(request: Request) -> Table:
    req = planning.SiteRequest(
        kind=params.word(request, "kind"), count=params.whole(request, "count"),
        radius_m=params.number(request, "radiusM"),
        weight=params.word(request, "weight", "HOUSEHOLDS"),
        candidates=params.word(request, "candidates", "COMPOUND_CENTERS"),
        keep_existing=params.flag(request, "keepExisting", True),
        time_limit_s=params.number(request, "timeLimitS", 10.0))
    s = await planning.suggest_sites(request.app.state.db, actor_of(request), req)
    return Table("suggestions", "选址建议", (
        "rank", "lon", "lat", "compound_code", "service_room_code", "gain", "share_after",
        "optimal", "bound", "method",
    ), ((x.rank, round(x.candidate.point.lon, 7), round(x.candidate.point.lat, 7),
         x.candidate.compound_code, x.candidate.room_code, x.gain, round(share, 6),
         str(s.optimal).lower(), s.bound, s.method) for x, share in zip(s.sites, s.curve)))


def _share(shares: Sequence[planning.Share], key: str) -> float | None:
    return next((x.share for x in shares if x.key == key), 0.0 if shares else None)


async def _area_stats(request: Request) -> Table:
    first = params.day(request, "from", required=True)
    last = params.day(request, "to", required=True)
    assert first is not None and last is not None
    rows = await planning.area_stats(
        request.app.state.db, actor_of(request), level=params.word(request, "level"),
        first=first, last=last, code=params.text(request, "code"),
        by_zone=params.flag(request, "byZone", False))
    return Table("area-stats", "区域统计", (
        "code", "name", "exact", "tickets", "resolved", "on_time_rate", "mean_handling_hours",
        "rated", "mean_rating", "month_on_month", "year_on_year",
        *(f"share_{c.lower()}" for c in CHANNELS), "top_items",
    ), ((a.code, a.name, str(a.exact).lower(), a.tickets, a.resolved, a.on_time_rate,
         a.mean_handling_hours, a.rated, a.mean_rating, a.month_on_month, a.year_on_year,
         *(_share(a.channels, c) for c in CHANNELS),
         "; ".join(f"{i.key} {i.name} {'' if i.tickets is None else i.tickets}"
                   for i in a.top_items)) for a in rows))


async def _tickets(request: Request) -> Table:
    start, stop = params.period(request)
    f = TicketFilterArgs(statuses=params.statuses(request),
                         community_code=params.text(request, "communityCode"),
                         cell_code=params.text(request, "cellCode"),
                         item_code=params.text(request, "itemCode"),
                         created_from=start, created_to=stop)
    rows = await tickets.export_tickets(request.app.state.db, actor_of(request), f)
    items = labels.catalogue_items()
    return Table("tickets", "工单", (
        "code", "status", "level", "item_code", "item_name", "category_name", "channel",
        "description", "priority", "created_at", "due_at", "resolved_at", "closed_at", "rating",
        "street_code", "zone_code", "community_code", "cell_code", "compound_code", "unit_code",
        "lon", "lat",
    ), ((t.code, t.status, t.level, t.item_code, items[t.item_code].name_zh,
         items[t.item_code].category_zh, t.channel, t.description, t.priority, t.created_at,
         t.due_at, t.resolved_at, t.closed_at, t.rating, t.street_code, t.zone_code,
         t.community_code, t.cell_code, t.compound_code, t.unit_code, round(t.lon, 7),
         round(t.lat, 7)) for t in rows))


Export = Callable[[Request], Awaitable[Table]]


def _as(export: Export, write: Callable[[Table], Response | Awaitable[Response]]) -> Callable[
        [Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            table = await export(request)
        except DomainError as exc:
            return domain_error_response(exc)
        answer = write(table)
        return await answer if inspect.isawaitable(answer) else answer

    return endpoint


EXPORTS: dict[str, Export] = {"coverage": _coverage, "suggestions": _suggestions,
                              "area-stats": _area_stats, "tickets": _tickets}
export_routes = [route for name, export in EXPORTS.items() for route in (
    Route(f"/{name}.csv", _as(export, _csv)), Route(f"/{name}.xlsx", _as(export, _xlsx)))]
