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
  Shanghai) only: with finer windows, the difference of two counts that are each shown could
  single out one report. A finer period is refused with PERIOD_TOO_FINE, never rounded. Patrol
  coverage 巡查覆盖 counts tickets per week over the caller's own cells: shown to callers who
  see those tickets as records, NULL for planners.
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

__all__ = ["MIN_COUNT", "SQUARE_M", "Disclosure", "disclosure", "months_before",
           "period_too_fine", "shown_count", "whole_months"]


def shown_count(n: int, exact: bool) -> int | None:
    """`n` as a caller sees it: itself where their counts are `exact` or it is at least
    MIN_COUNT, else None (withheld)."""
    return n if exact or n >= MIN_COUNT else None


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

    def count_over(self, n: int, areas: Iterable[str]) -> int | None:
        """`n` for a total over several areas: exact where the caller has exact counts for
        every one of them, else withheld under MIN_COUNT."""
        return shown_count(n, n >= MIN_COUNT or self.exact_counts
                           or all(self.covers_area(a) for a in areas))

    def week_counts(self) -> bool:
        """Whether the caller sees ticket counts of a week for the areas its scope covers:
        callers who see those tickets as records (who could count them by any period anyway),
        not planners, who see no record and count by whole months."""
        return self.fine_periods or self.records is not None

    def check_period(self, start: datetime | None, end: datetime | None, *,
                     start_field: str = "from", end_field: str = "to") -> None:
        """PERIOD_TOO_FINE unless the caller may use any period or both ends fall on months."""
        if self.fine_periods:
            return
        if start is not None and not _month_start(start):
            raise period_too_fine(start_field)
        if end is not None and not _month_start(end):
            raise period_too_fine(end_field)


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
