"""The responsibility matrix: which unit leads a demand item at a place.

PROPERTY_COMPANY → the compound's company under contract (no compound or no company → the
community); COMMUNITY / STREET → the one containing the point; any other kind (a utility or a
county department) → the county's unit of that kind.
"""

from __future__ import annotations

from collections.abc import Mapping


def route_unit(
    kind: str,
    *,
    community_code: str,
    street_code: str,
    company_code: str | None,
    county_units: Mapping[str, str],
) -> str | None:
    """The unit code responsible for a unit kind at a place, or None when there is none."""
    if kind == "PROPERTY_COMPANY":
        return company_code or community_code
    if kind == "COMMUNITY":
        return community_code
    if kind == "STREET":
        return street_code
    return county_units.get(kind)


def route_units(
    kinds: list[str],
    *,
    community_code: str,
    street_code: str,
    company_code: str | None,
    county_units: Mapping[str, str],
) -> list[str]:
    """Unit codes for several kinds (cooperating units), without repeats or gaps."""
    out: list[str] = []
    for kind in kinds:
        code = route_unit(kind, community_code=community_code, street_code=street_code,
                          company_code=company_code, county_units=county_units)
        if code and code not in out:
            out.append(code)
    return out
