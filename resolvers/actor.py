"""Who is asking: a role and the codes of the places or units the caller answers for.

A scope code covers every code it prefixes, so a street covers its communities and cells
(GB/T 30428 codes nest) and a community covers its compounds (`<community>C03`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Role(str, enum.Enum):  # noqa: UP042 - the values are the token's wire names
    PUBLIC = "PUBLIC"
    RESIDENT = "RESIDENT"
    GRID_WORKER = "GRID_WORKER"
    SUPERVISOR = "SUPERVISOR"
    COMMUNITY_STAFF = "COMMUNITY_STAFF"
    STREET_OFFICER = "STREET_OFFICER"
    COUNTY_OFFICE = "COUNTY_OFFICE"
    PLANNER = "PLANNER"
    UNIT = "UNIT"
    SYSTEM = "SYSTEM"


STAFF = frozenset({Role.COMMUNITY_STAFF, Role.STREET_OFFICER, Role.COUNTY_OFFICE})
FIELD = frozenset({Role.GRID_WORKER, Role.SUPERVISOR})
ALL_SEEING = frozenset({Role.COUNTY_OFFICE, Role.SYSTEM})


@dataclass(frozen=True)
class Actor:
    """The caller: a subject (the token's `sub`), a role and scope codes."""

    subject: str
    role: Role
    scopes: tuple[str, ...] = ()

    def covers(self, codes: Iterable[str | None]) -> bool:
        """Whether any of `codes` lies inside the caller's scope."""
        if self.role in ALL_SEEING:
            return True
        return any(code and code.startswith(scope) for code in codes for scope in self.scopes)


PUBLIC = Actor("anonymous", Role.PUBLIC)
SYSTEM = Actor("system", Role.SYSTEM)
