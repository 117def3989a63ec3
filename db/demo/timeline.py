"""The demo's timeline: 18 months of history that end on the as-of day (by default the day of
seeding), so the backlog is current whenever the demo is loaded.

The canonical timeline ends on 2024-06-30 (history 2023-01..2024-06); another as-of date moves
every date of the demo by whole months (whole years for the yearly service records), so the
calendar shape of the account — 华丰现代城 26 → 8 tickets a month after the replacement eight
months in, the totals — holds in the 18 months up to the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from db.vocabulary import SHANGHAI

CANONICAL_AS_OF = date(2024, 6, 30)
MONTHS = 18


def today() -> date:
    """Today in Asia/Shanghai, where the county's days are counted."""
    return datetime.now(UTC).astimezone(SHANGHAI).date()


def add_months(day: date, months: int) -> date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


@dataclass(frozen=True)
class Timeline:
    as_of: date = CANONICAL_AS_OF
    months: int = MONTHS

    @property
    def first_month(self) -> date:
        return add_months(self.as_of.replace(day=1), 1 - self.months)

    @property
    def last_month(self) -> date:
        return self.as_of.replace(day=1)

    @property
    def now(self) -> datetime:
        """The end of the as-of day (Asia/Shanghai): the demo's history runs up to here."""
        end = self.as_of + timedelta(days=1)
        return datetime(end.year, end.month, end.day, tzinfo=SHANGHAI)

    def month_start(self, i: int) -> datetime:
        d = add_months(self.first_month, i)
        return datetime(d.year, d.month, 1, tzinfo=SHANGHAI)

    def month_end(self, i: int) -> datetime:
        """The end of month `i`, or the as-of day's end in the last, partial month."""
        return min(self.month_start(i + 1), self.now)

    @property
    def month_shift(self) -> int:
        """Whole months from the canonical timeline to this one."""
        return ((self.as_of.year - CANONICAL_AS_OF.year) * 12
                + self.as_of.month - CANONICAL_AS_OF.month)

    def shift(self, day: date) -> date:
        """A canonical date moved by whole months onto this timeline."""
        return add_months(day, self.month_shift)

    def shift_years(self, day: date) -> date:
        """A canonical date moved by whole years (never past the as-of day), for records
        counted per calendar year."""
        return add_months(day, 12 * (self.month_shift // 12))
