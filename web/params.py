"""Query-string parameters of the HTTP routes outside GraphQL (tiles, the heat map, OGC API
Features, exports), parsed once so that every route accepts the same formats and refuses a bad
value with BAD_USER_INPUT naming the parameter — never a 500.

- Times: a date `YYYY-MM-DD` (a whole Asia/Shanghai day: `from` starts it, `to` includes it)
  or an ISO 8601 date-time in the extended format, `YYYY-MM-DDThh:mm[:ss[.ffffff]]` with an
  optional `Z` or `±hh:mm`; without an offset it is Asia/Shanghai time. A `+` in a URL means
  a space, so `2024-01-01T00:00:00 08:00` is read with its `+` put back. The basic format
  (`20240630`, which would read as a midnight and leave the day out of `to`), week and
  ordinal dates and a bare hour are refused. Years as GraphQL periods allow them
  (`resolvers.inputs.PERIOD_YEARS`).
- Boxes: four finite numbers `west,south,east,north`; lists: comma-separated names.
- Datums: WGS84, GCJ02 or BD09, in any case.
- Integers: digits within stated bounds; numbers: finite decimals; flags: true or false.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta

from starlette.requests import Request

from db.vocabulary import SHANGHAI, TICKET_STATUSES
from geo.types import Crs
from resolvers.errors import bad_input
from resolvers.inputs import PERIOD_YEARS

FIRST_YEAR, LAST_YEAR = PERIOD_YEARS
_DIGITS = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                        r"(Z|[+-][0-9]{2}:[0-9]{2})?")


def text(request: Request, name: str, *, required: bool = False) -> str | None:
    """The parameter stripped; None when absent or blank (BAD_USER_INPUT where `required`)."""
    value = (request.query_params.get(name) or "").strip()
    if not value and required:
        raise bad_input(f"query parameter `{name}` is required", name)
    return value or None


def moment(request: Request, name: str, *, end: bool = False,
           required: bool = False) -> datetime | None:
    """A time with its offset (see the module's docstring); `end` reads a date as the end of
    that day (the next midnight)."""
    raw = text(request, name, required=required)
    if raw is None:
        return None
    return parse_moment(name, raw, end=end)


def parse_moment(name: str, raw: str, *, end: bool = False) -> datetime:
    problem = (f"`{name}` must be a date (YYYY-MM-DD) or an ISO 8601 date-time "
               f"(YYYY-MM-DDThh:mm[:ss], then Z or ±hh:mm or nothing for +08:00) in "
               f"{FIRST_YEAR}–{LAST_YEAR}, got {raw!r}")
    stamp = raw.replace(" ", "+")
    try:
        if _DATE.fullmatch(raw):
            found = datetime.combine(date.fromisoformat(raw) + timedelta(days=int(end)), time(),
                                     SHANGHAI)
        elif _DATE_TIME.fullmatch(stamp):
            found = datetime.fromisoformat(stamp)
            found = found if found.tzinfo else found.replace(tzinfo=SHANGHAI)
        else:
            raise ValueError(raw)
        in_range = FIRST_YEAR <= found.astimezone(SHANGHAI).year <= LAST_YEAR
    except (ValueError, OverflowError):
        in_range = False
    if not in_range:
        raise bad_input(problem, name)
    return found


def day(request: Request, name: str, *, required: bool = False) -> date | None:
    """A date `YYYY-MM-DD` in FIRST_YEAR–LAST_YEAR; None when absent."""
    raw = text(request, name, required=required)
    if raw is None:
        return None
    try:
        found = date.fromisoformat(raw) if _DATE.fullmatch(raw) else None
    except ValueError:
        found = None
    if found is None or not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise bad_input(f"`{name}` must be a date (YYYY-MM-DD) in {FIRST_YEAR}–{LAST_YEAR}, "
                        f"got {raw!r}", name)
    return found


def period(request: Request, *, required: bool = False) -> tuple[datetime | None,
                                                                 datetime | None]:
    """`from` and `to`, `from` before `to` where both are given."""
    start = moment(request, "from", required=required)
    stop = moment(request, "to", end=True, required=required)
    if start and stop and start >= stop:
        raise bad_input("`from` must come before `to`", "from")
    return start, stop


def datum(request: Request, name: str = "crs") -> Crs:
    raw = text(request, name) or Crs.WGS84.value
    try:
        return Crs(raw.upper())
    except ValueError:
        raise bad_input(f"`{name}` must be one of WGS84, GCJ02, BD09, got {raw!r}",
                        name) from None


def box(request: Request, name: str = "bbox", *,
        required: bool = False) -> tuple[float, float, float, float] | None:
    """Four finite numbers west,south,east,north (checked as a box by the caller, who knows its
    datum)."""
    raw = text(request, name, required=required)
    return None if raw is None else parse_box(name, raw)


def parse_box(name: str, raw: str) -> tuple[float, float, float, float]:
    try:
        numbers = tuple(float(p) for p in raw.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != 4 or not all(math.isfinite(x) for x in numbers):
        raise bad_input(f"`{name}` must be four numbers west,south,east,north, got {raw!r}", name)
    west, south, east, north = numbers
    return west, south, east, north


def parse_names(raw: str) -> list[str] | None:
    """Comma-separated names, stripped; None when there are none."""
    return [p.strip() for p in raw.split(",") if p.strip()] or None


def integer(request: Request, name: str, *, default: int, low: int, high: int | None = None,
            cap: int | None = None) -> int:
    """Digits in [low, high]; above `cap` (where given) the value is `cap`."""
    raw = text(request, name)
    if raw is None:
        return default
    return parse_integer(name, raw, low=low, high=high, cap=cap)


def parse_integer(name: str, raw: str, *, low: int, high: int | None = None,
                  cap: int | None = None) -> int:
    bounds = f"{low}–{high}" if high is not None else f"{low} or more"
    if not _DIGITS.fullmatch(raw) or int(raw) < low or (high is not None and int(raw) > high):
        raise bad_input(f"`{name}` must be an integer of {bounds}, got {raw!r}", name)
    return min(int(raw), cap) if cap is not None else int(raw)


def number(request: Request, name: str, default: float | None = None) -> float:
    """A finite decimal; `default` when absent (BAD_USER_INPUT when there is none)."""
    raw = text(request, name, required=default is None)
    if raw is None:
        assert default is not None
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise bad_input(f"`{name}` must be a number, got {raw!r}", name)
    return value


def whole(request: Request, name: str) -> int:
    """A required whole number (digits), its upper bound left to the resolver (which names
    it)."""
    raw = text(request, name, required=True)
    assert raw is not None
    return parse_integer(name, raw, low=0)


def flag(request: Request, name: str, default: bool) -> bool:
    """`true` or `false` in any case; `default` when absent."""
    raw = (text(request, name) or "").lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise bad_input(f"`{name}` must be true or false, got {raw!r}", name)
    return raw == "true"


def word(request: Request, name: str, default: str | None = None) -> str:
    """A required name (a kind, a weight, a level) in upper case; `default` when absent."""
    raw = text(request, name, required=default is None) or default
    assert raw is not None
    return raw.upper()


def statuses(request: Request, name: str = "status") -> tuple[str, ...] | None:
    """Ticket statuses, comma-separated or repeated, in any case; None when not given."""
    if name not in request.query_params:
        return None
    found = tuple(s.strip().upper() for raw in request.query_params.getlist(name)
                  for s in raw.split(",") if s.strip())
    unknown = sorted(set(found) - set(TICKET_STATUSES))
    if unknown or not found:
        raise bad_input(f"`{name}` must list some of {', '.join(TICKET_STATUSES)}, got "
                        f"{', '.join(unknown) or 'nothing'}", name)
    return found
