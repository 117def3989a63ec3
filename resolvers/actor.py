"""Who is asking: a role and the codes of the places or units the caller answers for.

A scope code covers every code it prefixes, so a street covers its communities and cells
(GB/T 30428 codes nest) and a community covers its compounds (`<community>C03`). Zones 片区
sit between the two without nesting codes: a ZONE_OFFICER's token names zones (`Z1`), and
their scope is those zones' communities, filled in when the token is verified (`in_zones`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace


class Role(str, enum.Enum):  # noqa: UP042 - the values are the token's wire names
    PUBLIC = "PUBLIC"
    RESIDENT = "RESIDENT"
    GRID_WORKER = "GRID_WORKER"
    SUPERVISOR = "SUPERVISOR"
    COMMUNITY_STAFF = "COMMUNITY_STAFF"
    ZONE_OFFICER = "ZONE_OFFICER"
    STREET_OFFICER = "STREET_OFFICER"
    COUNTY_OFFICE = "COUNTY_OFFICE"
    PLANNER = "PLANNER"
    UNIT = "UNIT"
    SYSTEM = "SYSTEM"


ALL_SEEING = frozenset({Role.COUNTY_OFFICE, Role.SYSTEM})


@dataclass(frozen=True)
class Actor:
    """The caller: a subject (the token's `sub`), a role and scope codes; a zone officer's
    `zones` too (their scope codes are then the zones' communities)."""

    subject: str
    role: Role
    scopes: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()

    def covers(self, codes: Iterable[str | None]) -> bool:
        """Whether any of `codes` lies inside the caller's scope: a code it prefixes, or one
        of the caller's zones itself."""
        if self.role in ALL_SEEING:
            return True
        return any(code and (code in self.zones or code.startswith(self.scopes))
                   for code in codes)

    @property
    def signed_in(self) -> bool:
        """Whether the caller presented a verified token (anyone but the public)."""
        return self.role is not Role.PUBLIC

    @property
    def names_zones(self) -> bool:
        """Whether the token's scope codes are zones, to be read as their communities."""
        return self.role is Role.ZONE_OFFICER

    def in_zones(self, communities: Mapping[str, Sequence[str]]) -> Actor:
        """A ZONE_OFFICER whose token named zones, answering for those zones' communities
        (`communities`: zone code → its community codes); other roles as they are."""
        if not self.names_zones:
            return self
        return replace(self, scopes=tuple(c for z in self.scopes for c in communities.get(z, ())),
                       zones=self.scopes)


PUBLIC = Actor("anonymous", Role.PUBLIC)
SYSTEM = Actor("system", Role.SYSTEM)
