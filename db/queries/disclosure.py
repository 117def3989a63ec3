"""The fixed numbers of the disclosure rule, for SQL that has to apply it.

The rule itself (who sees what) lives in `resolvers/disclosure.py`; `db/` only needs its
numbers and the one way a withheld count is written, so they are kept here, below both.
"""

from __future__ import annotations

# A count under this, for an area and a period, is withheld from callers without exact
# counts there: 1 or 2 reports could be singled out, and 0 must look the same as 1 or 2.
MIN_COUNT = 3
# Side of the square (EPSG:4549 metres) that tickets outside a caller's scope are merged into.
SQUARE_M = 100


def shown_count_sql(count: str, exact: str = "FALSE") -> str:
    """SQL of `count` as the caller may see it: itself where `exact` holds or it is at least
    MIN_COUNT, else NULL (withheld)."""
    return f"CASE WHEN ({exact}) OR ({count}) >= {MIN_COUNT} THEN ({count}) END"
