"""Owners' committee 业委会 types shared by `schema.types` (`Compound.ownersCommittee`) and
`schema.committees`."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import committees


@strawberry.enum(description="A seat on an owners' committee: chair 主任, vice-chair 副主任, "
                             "member 委员.")
class CommitteeRole(enum.Enum):
    CHAIR = "CHAIR"
    VICE_CHAIR = "VICE_CHAIR"
    MEMBER = "MEMBER"


@strawberry.type
class CommitteeMember:
    id: int
    name: str | None = strawberry.field(description="Null unless the caller is staff.")
    role: CommitteeRole
    party_member: bool
    on_community_committees: bool = strawberry.field(
        description="Also sits on the community's two committees 两委.")
    removed_at: datetime | None
    removed_for: str | None = strawberry.field(description="The negative-list item (N1–N8).")

    @classmethod
    def of(cls, row: Any, *, names: bool) -> CommitteeMember:
        return cls(id=row.id, name=row.name if names else None, role=CommitteeRole(row.role),
                   party_member=row.party_member,
                   on_community_committees=row.on_community_committees,
                   removed_at=row.removed_at, removed_for=row.removed_for)


@strawberry.type(description="A compound's sitting owners' committee 业委会.")
class OwnersCommittee:
    compound_code: str
    term_start: date
    term_end: date
    elected_at: datetime
    id: strawberry.Private[int]

    @strawberry.field(description="Sitting members, chair first; with `includeRemoved`, also "
                                  "those the negative list removed. All of them (at most 15 "
                                  "sitting).")
    async def members(self, info: Info, include_removed: bool = False) -> list[CommitteeMember]:
        rows = await info.context.loaders.committee_members.load(self.id)
        names = committees.shows_names(info.context.actor)
        return [CommitteeMember.of(r, names=names) for r in rows
                if include_removed or r.removed_at is None]

    @strawberry.field(description="Whether party members hold at least 60% of its chair and "
                                  "vice-chair seats.")
    async def meets_party_share(self, info: Info) -> bool:
        rows = await info.context.loaders.committee_members.load(self.id)
        return committees.members_meet_party_share(rows)

    @classmethod
    def of(cls, row: Any) -> OwnersCommittee:
        return cls(compound_code=row.compound_code, term_start=row.term_start,
                   term_end=row.term_end, elected_at=row.elected_at, id=row.id)
