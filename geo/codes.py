"""GB/T 30428 unit-grid codes for Linshu County and their west-east, north-south order."""

from __future__ import annotations

import math
import re

# Administrative division code of Linshu County, Linyi, Shandong (GB/T 2260).
COUNTY_CODE = "371329"

_STREET_LEN = 9
_COMMUNITY_LEN = 12
_CELL_LEN = 15
_MAX_SEQUENCE = 999


def _sequence(n: int) -> str:
    # bool is an int subclass; a True sequence number is always a caller bug.
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValueError(f"sequence number must be an int, got {n!r}")
    if not 1 <= n <= _MAX_SEQUENCE:
        raise ValueError(f"sequence number must be in [1, {_MAX_SEQUENCE}], got {n}")
    return f"{n:03d}"


def _is_county_code(code: str, length: int) -> bool:
    # re's [0-9] rather than str.isdigit, which also accepts non-ASCII digits like "٣".
    return (
        isinstance(code, str)
        and re.fullmatch(f"[0-9]{{{length}}}", code) is not None
        and code.startswith(COUNTY_CODE)
    )


def street_code(n: int) -> str:
    """Return the 9-digit code of street (township) number n in Linshu."""
    return COUNTY_CODE + _sequence(n)


def community_code(street: str, n: int) -> str:
    """Return the 12-digit code of community number n in the given street."""
    if not _is_county_code(street, _STREET_LEN):
        raise ValueError(f"street must be a {_STREET_LEN}-digit Linshu code, got {street!r}")
    return street + _sequence(n)


def cell_code(community: str, n: int) -> str:
    """Return the 15-digit code of unit-grid cell number n in the given community."""
    if not _is_county_code(community, _COMMUNITY_LEN):
        raise ValueError(
            f"community must be a {_COMMUNITY_LEN}-digit Linshu code, got {community!r}"
        )
    return community + _sequence(n)


def code_kind(code: str) -> str | None:
    """Return "street", "community" or "cell" for a Linshu grid code, else None."""
    kinds = {_STREET_LEN: "street", _COMMUNITY_LEN: "community", _CELL_LEN: "cell"}
    kind = kinds.get(len(code)) if isinstance(code, str) else None
    if kind is None or not _is_county_code(code, len(code)):
        return None
    return kind


def order_west_east_north_south(centroids: list[tuple[float, float]], band: float) -> list[int]:
    """Return centroid indices in rows north to south, each row west to east."""
    if not math.isfinite(band) or band <= 0:
        raise ValueError(f"band must be a positive finite number, got {band!r}")
    if not centroids:
        return []
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in centroids):
        raise ValueError("centroids must be finite")
    north = max(y for _, y in centroids)

    def key(i: int) -> tuple[int, float, float, int]:
        x, y = centroids[i]
        # Rows are counted down from the northernmost centroid so the numbering does not
        # depend on where an arbitrary grid origin happens to fall.
        row = math.floor((north - y) / band)
        # Ties on x fall back to the more northern point, then to input order.
        return (row, x, -y, i)

    return sorted(range(len(centroids)), key=key)
