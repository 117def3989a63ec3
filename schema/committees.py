"""Owners' committees 业委会: thin fields over `resolvers/committees.py`."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import committees
from resolvers.committees import CandidateArgs, Compliance, ElectionArgs
from resolvers.errors import DomainError
from schema.committee_types import CommitteeMember, CommitteeRole, OwnersCommittee
from schema.notices import USER_ERRORS
from schema.types import UserError, user_errors


@strawberry.type(description="A condition of the rules: a qualification (Q1–Q6) or a "
                             "negative-list item (N1–N8).")
class CommitteeCondition:
    code: str
    text: str


@strawberry.type
class CommitteeRules:
    qualifications: list[CommitteeCondition] = strawberry.field(
        description="All of them (6), in code order.")
    negative_list: list[CommitteeCondition] = strawberry.field(
        description="All of them (8), in code order.")
    party_share: float = strawberry.field(description="The least share of chair and "
                                                      "vice-chair seats held by party members.")
    max_term_years: int


@strawberry.type
class CompoundRef:
    code: str
    name: str
    community_code: str


@strawberry.type
class CommitteeShare:
    compound: CompoundRef
    leader_seats: int
    party_leaders: int


@strawberry.type
class RemovedMember:
    compound_code: str
    member: CommitteeMember


@strawberry.type
class OwnersCommitteeCompliance:
    community_code: str | None
    compound_count: int
    committee_count: int
    leader_seats: int = strawberry.field(description="Chair and vice-chair seats.")
    party_leaders: int = strawberry.field(description="Of them, held by party members.")
    party_share: float | None
    meets_party_share: bool = strawberry.field(description="Party members hold at least 60% of "
                                                           "the seats (exactly, unrounded).")
    vetted_count: int = strawberry.field(description="Members vetted against the negative list.")
    removed_count: int = strawberry.field(description="Members removed by it.")
    compounds_without_committee: list[CompoundRef] = strawberry.field(
        description="At most one per compound in scope (230 in the demo county).")
    committees_below_party_share: list[CommitteeShare] = strawberry.field(
        description="At most one per compound in scope.")
    members_on_negative_list: list[RemovedMember] = strawberry.field(
        description="All members the negative list removed in scope (55 in the demo).")

    @classmethod
    def of(cls, c: Compliance, *, names: bool) -> OwnersCommitteeCompliance:
        def ref(row: Any) -> CompoundRef:
            return CompoundRef(code=row.code, name=row.name, community_code=row.community_code)

        return cls(
            community_code=c.community_code, compound_count=len(c.compounds),
            committee_count=sum(x.has_committee for x in c.compounds),
            leader_seats=c.leader_seats, party_leaders=c.party_leaders,
            party_share=None if c.party_share is None else float(c.party_share),
            meets_party_share=c.meets_party_share, vetted_count=c.vetted,
            removed_count=c.removed_count,
            compounds_without_committee=[ref(x.row) for x in c.compounds if not x.has_committee],
            committees_below_party_share=[
                CommitteeShare(compound=ref(x.row), leader_seats=x.row.leader_seats,
                               party_leaders=x.row.party_leaders)
                for x in c.compounds if x.has_committee and not x.meets_party_share],
            members_on_negative_list=[RemovedMember(compound_code=r.compound_code,
                                                    member=CommitteeMember.of(r, names=names))
                                      for r in c.removed])


@strawberry.input
class CommitteeCandidateInput:
    name: str
    role: CommitteeRole
    party_member: bool
    on_community_committees: bool = False
    qualifications: list[str] = strawberry.field(description="The qualifications (Q1–Q6) found "
                                                             "met on election: all six.")
    negative_items: list[str] = strawberry.field(default_factory=list,
                                                 description="Negative-list items (N1–N8) hit.")


@strawberry.input
class ElectOwnersCommitteeInput:
    compound_code: str
    term_start: date
    term_end: date = strawberry.field(description="At most 5 years after the start.")
    members: list[CommitteeCandidateInput]


@strawberry.type
class OwnersCommitteePayload:
    committee: OwnersCommittee | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class CommitteeMemberPayload:
    member: CommitteeMember | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


def _conditions(table: dict[str, str]) -> list[CommitteeCondition]:
    return [CommitteeCondition(code=k, text=v) for k, v in table.items()]


@strawberry.type
class CommitteeQuery:
    @strawberry.field(description="The owners' committee rules: 6 qualifications, the 8-item "
                                  "negative list, the party share and the longest term (public).")
    def owners_committee_rules(self) -> CommitteeRules:
        rules = committees.RULES
        return CommitteeRules(qualifications=_conditions(rules.qualifications),
                              negative_list=_conditions(rules.negative_list),
                              party_share=float(rules.party_share),
                              max_term_years=rules.max_term_years)

    @strawberry.field(description="Compounds without an owners' committee, committees below the "
                                  "party share and members removed by the negative list, in "
                                  "the caller's scope (one community with `communityCode`).")
    async def owners_committee_compliance(self, info: Info, community_code: str | None = None
                                          ) -> OwnersCommitteeCompliance:
        actor = info.context.actor
        result = await committees.compliance(info.context.db, actor,
                                             community_code=community_code)
        return OwnersCommitteeCompliance.of(result, names=committees.shows_names(actor))


@strawberry.type
class CommitteeMutation:
    @strawberry.mutation(description="Records an elected owners' committee as the compound's "
                                     "sitting one: every member meets the 6 qualifications and "
                                     "hits no negative-list item (UNQUALIFIED_MEMBER, "
                                     "NEGATIVE_LIST_HIT otherwise).")
    async def elect_owners_committee(self, info: Info,
                                     input: ElectOwnersCommitteeInput) -> OwnersCommitteePayload:
        args = ElectionArgs(input.compound_code, input.term_start, input.term_end, [
            CandidateArgs(m.name, m.role.value, m.party_member, m.on_community_committees,
                          list(m.qualifications), list(m.negative_items))
            for m in input.members])
        try:
            row = await committees.elect(info.context.db, info.context.actor, args)
        except DomainError as err:
            return OwnersCommitteePayload(committee=None, errors=user_errors(err))
        return OwnersCommitteePayload(committee=OwnersCommittee.of(row), errors=[])

    @strawberry.mutation(description="Records a member's vetting against the negative list; any "
                                     "item hit removes them from the committee.")
    async def vet_committee_member(self, info: Info, member_id: int,
                                   negative_items: list[str]) -> CommitteeMemberPayload:
        try:
            row = await committees.vet(info.context.db, info.context.actor, member_id=member_id,
                                       negative_items=negative_items)
        except DomainError as err:
            return CommitteeMemberPayload(member=None, errors=user_errors(err))
        names = committees.shows_names(info.context.actor)
        return CommitteeMemberPayload(member=CommitteeMember.of(row, names=names), errors=[])
