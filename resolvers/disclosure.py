"""The disclosure rule: what a caller learns about tickets 工单 outside their scope.

Every route that shows tickets (GraphQL, OGC API, tiles, the heat map, layers, exports) asks
this module, so the rule is written once:

- Records. A caller sees a ticket as a record (code, item, status, exact point) only where
  their ticket scope covers it (`resolvers/tickets.ticket_scope`). Everything else is an
  aggregate: counts per area (grid cell 网格, H3 hexagon, 100 m square, compound 小区, month).
- Counts. Who sees exact counts of any size: the county office and the system (they see every
  record) and planners (county staff doing analysis, who see no record at all). Staff and field
  workers see exact counts for the areas their scope covers. Everyone else, and everyone
  outside their scope, sees a count under MIN_COUNT as withheld: `null` with `withheld: true`,
  the same for 0, 1 and 2.
- Periods. Callers who do not see every record filter time by whole calendar months (Asia/
  Shanghai) only; a finer period is refused with PERIOD_TOO_FINE, never rounded. Callers
  without exact counts everywhere ask for exactly one calendar month (PERIOD_NOT_ONE_MONTH
  otherwise): were two windows allowed, (March–April) − (March) would give April's count of
  1 or 2. Series of months show each month as its own count. Patrol coverage 巡查覆盖 counts
  tickets per week over the caller's own cells: shown to callers who see those tickets as
  records, NULL for planners.
- Filters. Callers without exact counts everywhere do not filter counts by status, category or
  item (FILTER_NOT_ALLOWED): all categories minus one would single out a report as well. Nor
  do they give ticket tiles a period: tiles, layers and OGC count every ticket for them, and
  all time minus one month would be a difference of two windows too. They count by month on
  the heat map's H3_8 hexagons only (`heatmap_resolution`): low-zoom ticket tiles, layers, OGC
  and the heat map's tiles count every ticket per grid cell 网格, so one month per grid cell
  beside them would give the other months' count; no route counts all time per hexagon; and
  on one resolution, as an H3_8 hexagon's month minus its H3_9 children's months shown would
  give the withheld children's count.
- Months of unions of grid cells (`areaStats`' communities, zones, streets, the county) are
  shown to callers without exact counts only where their counts are exact
  (`shows_month_of`): ticket tiles count every ticket per grid cell for them, and an area's
  all time (the sum of its cells) minus its months shown would give its withheld months.
- Totals over areas and periods of the caller's choosing (the property ranking's standings:
  a manager's compounds over any months, cut at contract days) are shown to callers without
  exact counts only where their scope covers every area (`count_over`): such a total beside
  another window, or beside the compound's months, gives a month's count by difference.
- Derived measures. A count of some of an area's tickets (resolved of those created, on time
  of those resolved, rated ...) is shown without exact counts only where both it and the rest
  are at least MIN_COUNT (`shown_part`), and a rate or mean only over a count that is shown:
  `tickets` − `resolved` must not give "1 unresolved". Shares of an area's tickets (by channel,
  by item) are withheld together (`shown_shares`): the total minus the shares shown must not
  give a withheld share either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from db.queries.disclosure import MIN_COUNT, SQUARE_M
from db.queries.ticket_scope import TicketScope
from db.vocabulary import SHANGHAI
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode
from resolvers.tickets import ticket_scope

__all__ = ["GRID_CELL", "MIN_COUNT", "PUBLIC_RESOLUTION", "SQUARE_M", "Disclosure",
           "disclosure", "months_before", "period_too_fine", "shown_count", "shown_part",
           "shown_shares", "whole_months"]

# The heat map's cells: grid cells, counted for all time elsewhere (ticket tiles below the
# detail zoom), for callers with exact counts only; H3 hexagons of resolution 8 for the others
# when they name none.
GRID_CELL = "GRID_CELL"
PUBLIC_RESOLUTION = "H3_8"


def shown_count(n: int, exact: bool) -> int | None:
    """`n` as a caller sees it: itself where their counts are `exact` or it is at least
    MIN_COUNT, else None (withheld)."""
    return n if exact or n >= MIN_COUNT else None


def shown_part(whole: int | None, part: int, exact: bool) -> int | None:
    """`part`, a count of some of `whole` tickets (resolved of those created, on time of those
    resolved), as a caller sees it: itself where their counts are `exact`; else only where
    `whole` is shown (not None) and both `part` and the rest, `whole` − `part`, are at least
    MIN_COUNT, so that no difference of two shown counts is a count under MIN_COUNT."""
    if exact:
        return part
    if whole is None or part < MIN_COUNT or whole - part < MIN_COUNT:
        return None
    return part


def shown_shares(shares: dict[str, int], total: int, exact: bool) -> dict[str, int | None]:
    """Shares of `total` tickets (by channel, by item) as a caller sees them: all of them where
    their counts are `exact`; else those under MIN_COUNT withheld, and with them the smallest
    shown ones until the tickets not shown (total − the shown shares) are none or at least
    MIN_COUNT: the rest must not be a count of 1 or 2 of a withheld share, nor 0 telling that
    every withheld share is 0."""
    if exact:
        return dict(shares)
    shown: dict[str, int | None] = {k: (n if n >= MIN_COUNT else None) for k, n in shares.items()}
    rest = total - sum(n for n in shown.values() if n is not None)
    withheld = any(n is None for n in shown.values()) or rest > 0
    for k in sorted((k for k, n in shown.items() if n is not None), key=lambda k: (shares[k], k)):
        if not withheld or rest >= MIN_COUNT:
            break
        rest += shares[k]
        shown[k] = None
    return shown


def period_too_fine(field: str) -> DomainError:
    return DomainError(ErrorCode.PERIOD_TOO_FINE,
                       "periods are whole calendar months (Asia/Shanghai) for callers who do not "
                       "see every ticket: start and end on the 1st at 00:00 +08:00", field)


def _month_start(t: datetime) -> bool:
    local = t.astimezone(SHANGHAI) if t.tzinfo else t
    return (local.day, local.hour, local.minute, local.second, local.microsecond) == (1, 0, 0, 0, 0)


def whole_months(start: datetime, end: datetime) -> int | None:
    """How many calendar months [start, end) spans when both fall on month starts, else None."""
    if not (_month_start(start) and _month_start(end)):
        return None
    a, b = start.astimezone(SHANGHAI), end.astimezone(SHANGHAI)
    return (b.year - a.year) * 12 + b.month - a.month


def months_before(start: datetime, months: int) -> datetime:
    """The month start `months` calendar months before the month start `start`."""
    local = start.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=SHANGHAI)


@dataclass(frozen=True)
class Disclosure:
    """What one caller may see of tickets."""

    actor: Actor
    records: TicketScope | None  # tickets seen as records; None: no record at all
    exact_counts: bool  # exact counts of any size everywhere
    fine_periods: bool  # periods finer than a month

    def covers_area(self, code: str | None) -> bool:
        """Whether counts for the area `code` (a cell, community or compound code) are exact."""
        if self.exact_counts:
            return True
        return code is not None and policy.may(self.actor, policy.Operation.COUNT_EXACTLY,
                                               policy.place(code))

    def counts_key(self) -> tuple[object, ...]:
        """What decides which counts the caller sees exactly: callers with equal keys get
        equal aggregates (a key for caches of aggregates)."""
        if self.exact_counts:
            return (True,)
        if policy.rule_of(self.actor, policy.Operation.COUNT_EXACTLY) is policy.Scope.IN_SCOPE:
            return (False, tuple(sorted(self.actor.scopes)))
        return (False,)

    def count(self, n: int, area: str | None = None) -> int | None:
        """`n` as the caller sees it for `area`: itself, or None (withheld)."""
        return shown_count(n, n >= MIN_COUNT or self.covers_area(area))

    def shows_month_of(self, code: str | None) -> bool:
        """Whether the caller sees any count of an area's month (`areaStats` rows: a community,
        zone, street or the county): only where its counts are exact. Those areas are unions of
        grid cells, whose counts of every ticket ticket tiles show callers without exact counts
        (each cell at least MIN_COUNT); their sum minus the area's months shown would give the
        count of its withheld months, such as this month's first report."""
        return self.covers_area(code)

    def count_over(self, n: int, areas: Iterable[str]) -> int | None:
        """`n` for a total over several areas and a period of the caller's choosing (the
        property ranking's standings: any months, and within them the days of contracts that
        begin or end mid-month): exact where the caller has exact counts for every one of the
        areas, else withheld whatever its size. Two windows, or a standing of one compound
        against that compound's months (`compoundMonthlyTickets`), would give a month's count,
        or a part of one, of 1 or 2."""
        return n if self.exact_counts or all(self.covers_area(a) for a in areas) else None

    def week_counts(self) -> bool:
        """Whether the caller sees ticket counts of a week for the areas its scope covers:
        callers who see those tickets as records (who could count them by any period anyway),
        not planners, who see no record and count by whole months."""
        return self.fine_periods or self.records is not None

    def check_period(self, start: datetime | None, end: datetime | None, *,
                     start_field: str = "from", end_field: str = "to") -> None:
        """PERIOD_TOO_FINE unless the caller may use any period or both ends fall on months;
        for callers without exact counts, PERIOD_NOT_ONE_MONTH unless the period is exactly
        one calendar month or not given at all (every ticket, as whole layers count)."""
        if self.fine_periods:
            return
        if start is not None and not _month_start(start):
            raise period_too_fine(start_field)
        if end is not None and not _month_start(end):
            raise period_too_fine(end_field)
        if self.exact_counts or (start is None and end is None):
            return
        if start is None or end is None or whole_months(start, end) != 1:
            raise DomainError(
                ErrorCode.PERIOD_NOT_ONE_MONTH,
                "callers without exact counts ask for exactly one calendar month (Asia/"
                "Shanghai), from the 1st at 00:00 to the next month's 1st, so that two "
                "answers cannot be differenced", start_field if start is None else end_field)

    def check_every_ticket(self, start: datetime | None, end: datetime | None) -> None:
        """Counts drawn over every ticket (ticket tiles, as `layer` and OGC count squares):
        FILTER_NOT_ALLOWED for a period given by a caller without exact counts. The same cell
        or square counted for all time and for one month would give the other months' count
        by difference; such callers count by month on the heat map."""
        self._refuse_given(
            {"from": start, "to": end},
            "ticket tiles count every ticket for callers without exact counts (the county "
            "office and planners may give a period): one month's count beside all time's "
            "would single out a report; the heat map counts by month")

    def heatmap_resolution(self, asked: str | None) -> str:
        """The heat map's cells for the caller: `asked`, or when None grid cells for callers
        with exact counts and PUBLIC_RESOLUTION hexagons for the others, who count on that one
        resolution only. FILTER_NOT_ALLOWED (field `resolution`) for any other asked by a caller
        without exact counts: ticket tiles, layers and OGC count every ticket per grid cell for
        them, so all time minus the months shown (or one month against all time) would give a
        cell's count of 1 or 2; and an H3_8 hexagon's month minus its seven H3_9 children's
        months shown gives the withheld children's count (1 or 2 for 306 of 1,514 shown
        hexagon-months on the demo)."""
        if asked is None:
            return GRID_CELL if self.exact_counts else PUBLIC_RESOLUTION
        if asked != PUBLIC_RESOLUTION and not self.exact_counts:
            raise DomainError(
                ErrorCode.FILTER_NOT_ALLOWED,
                f"the heat map counts on {PUBLIC_RESOLUTION} hexagons only for callers without "
                "exact counts (grid cells and H3_9 are for the county office and planners): "
                "one month per grid cell beside the ticket tiles' all-time counts per grid "
                f"cell, or an {PUBLIC_RESOLUTION} hexagon's month beside its smaller children's, "
                "would single out a report", "resolution")
        return asked

    def check_filters(self, **given: object) -> None:
        """FILTER_NOT_ALLOWED for the first filter given (not None) by a caller without exact
        counts: counts filtered by status, category or item, against the unfiltered ones,
        would give the count of the rest."""
        self._refuse_given(
            given, "`{field}` filters counts for callers with exact counts only (the county "
            "office and planners): filtered and unfiltered counts of the same month would "
            "single out a report")

    def _refuse_given(self, given: dict[str, object], message: str) -> None:
        """FILTER_NOT_ALLOWED, with `message` (its `{field}` filled in), for the first of
        `given` that is not None, unless the caller sees exact counts everywhere."""
        if self.exact_counts:
            return
        for field, value in given.items():
            if value is not None:
                raise DomainError(ErrorCode.FILTER_NOT_ALLOWED, message.format(field=field),
                                  field)


def disclosure(actor: Actor) -> Disclosure:
    """The rule as it applies to `actor`."""
    try:
        records: TicketScope | None = ticket_scope(actor)
    except DomainError as exc:
        if exc.code is not ErrorCode.FORBIDDEN:
            raise
        records = None
    exactly = policy.rule_of(actor, policy.Operation.COUNT_EXACTLY)
    return Disclosure(actor, records, exact_counts=exactly is policy.Scope.ANY,
                      fine_periods=policy.may(actor, policy.Operation.COUNT_ANY_PERIOD))
