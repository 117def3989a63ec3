"""Owners' committees 业委会: reading a compound's sitting committee, the compliance check,
electing a committee and vetting its members, by the rules of `db/committees.py`.

Staff read and act within their scope (a compound by its community); planners read the
committees and the compliance check without members' names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from db import committees as rules
from db.database import Database
from db.queries import committees as queries
from db.queries import places as place_queries
from db.queries.committees import NewMember
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.policy import Operation

MIN_MEMBERS, MAX_MEMBERS = 3, 15
MAX_NAME = 32


@dataclass(frozen=True)
class Rules:
    """The owners' committee rules as published: qualifications and negative list by code."""

    qualifications: dict[str, str]
    negative_list: dict[str, str]
    party_share: Fraction
    max_term_years: int


RULES = Rules(rules.QUALIFICATIONS, rules.NEGATIVE_LIST, rules.PARTY_SHARE, rules.MAX_TERM_YEARS)


def members_meet_party_share(members: list[Any]) -> bool:
    """Whether party members hold the share of the chair and vice-chair seats among a
    committee's member rows (removed members do not count)."""
    leaders = [m for m in members if m.removed_at is None and m.role in rules.LEADER_ROLES]
    return rules.meets_party_share(sum(m.party_member for m in leaders), len(leaders))


def shows_names(actor: Actor) -> bool:
    return policy.may(actor, Operation.READ_COMMITTEE_NAMES)


def check_compound(actor: Actor, compound_code: str, community_code: str) -> None:
    """FORBIDDEN unless the caller may read the committee of a compound of a community."""
    policy.check_role(actor, Operation.READ_COMMITTEES, "owners' committees are visible to "
                      "community staff, street officers, the county office and planners")
    if not (policy.may(actor, Operation.READ_COMMITTEES, policy.place(community_code))
            or policy.may(actor, Operation.READ_COMMITTEES, policy.place(compound_code))):
        raise policy.outside_scope(f"compound {compound_code}")




@dataclass(frozen=True)
class CommitteeCheck:
    """A compound in the compliance check, with its sitting committee's leader seats."""

    row: Any

    @property
    def has_committee(self) -> bool:
        return self.row.committee_id is not None

    @property
    def meets_party_share(self) -> bool:
        return rules.meets_party_share(self.row.party_leaders, self.row.leader_seats)


@dataclass(frozen=True)
class Compliance:
    community_code: str | None
    compounds: list[CommitteeCheck]
    removed: list[Any]
    vetted: int
    removed_count: int
    leader_seats: int = field(init=False)
    party_leaders: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "leader_seats", sum(c.row.leader_seats for c in self.compounds))
        object.__setattr__(self, "party_leaders",
                           sum(c.row.party_leaders for c in self.compounds))

    @property
    def party_share(self) -> Fraction | None:
        return Fraction(self.party_leaders, self.leader_seats) if self.leader_seats else None

    @property
    def meets_party_share(self) -> bool:
        return rules.meets_party_share(self.party_leaders, self.leader_seats)


async def compliance(db: Database, actor: Actor, *, community_code: str | None) -> Compliance:
    """Compounds without a committee, committees below the party share, members removed by
    the negative list, and the county's (or the scope's) party share of leader seats."""
    operation = Operation.READ_COMMITTEES
    policy.check_role(actor, operation, "owners' committees are visible to community staff, "
                      "street officers, the county office and planners")
    policy.check_place(actor, operation, community_code, "communityCode")
    async with db.connection() as conn:
        rows, removed, vetted = await queries.compliance_rows(
            conn, scopes=policy.sql_scopes(actor, operation), community_code=community_code)
    return Compliance(community_code, [CommitteeCheck(r) for r in rows], removed,
                      int(vetted.vetted), int(vetted.removed))


@dataclass(frozen=True)
class CandidateArgs:
    name: str
    role: str
    party_member: bool
    on_community_committees: bool
    qualifications: list[str]
    negative_items: list[str]


@dataclass(frozen=True)
class ElectionArgs:
    compound_code: str
    term_start: date
    term_end: date
    members: list[CandidateArgs]


def _check_candidates(members: list[CandidateArgs]) -> list[NewMember]:
    if not MIN_MEMBERS <= len(members) <= MAX_MEMBERS:
        raise bad_input(f"a committee has {MIN_MEMBERS}–{MAX_MEMBERS} members, got "
                        f"{len(members)}", "input.members")
    if [m.role for m in members].count("CHAIR") != 1:
        raise bad_input("a committee has exactly one chair", "input.members")
    out = []
    for i, m in enumerate(members):
        at = f"input.members.{i}"
        name = m.name.strip()
        if not 1 <= len(name) <= MAX_NAME:
            raise bad_input(f"a name has 1–{MAX_NAME} characters", f"{at}.name")
        unknown = [q for q in m.qualifications if q not in rules.QUALIFICATIONS]
        if unknown:
            raise bad_input(f"no qualification {unknown[0]!r}; they are Q1–Q6",
                            f"{at}.qualifications")
        missing = rules.missing_qualifications(m.qualifications)
        if missing:
            raise DomainError(ErrorCode.UNQUALIFIED_MEMBER, f"{name} is not found to meet "
                              + "; ".join(f"{q} {rules.QUALIFICATIONS[q]}" for q in missing),
                              f"{at}.qualifications")
        unknown = rules.unknown_negative_items(m.negative_items)
        if unknown:
            raise bad_input(f"no negative-list item {unknown[0]!r}; they are N1–N8",
                            f"{at}.negativeItems")
        if m.negative_items:
            item = m.negative_items[0]
            raise DomainError(ErrorCode.NEGATIVE_LIST_HIT, f"{name} is on the negative list: "
                              f"{item} {rules.NEGATIVE_LIST[item]}", f"{at}.negativeItems")
        out.append(NewMember(name, m.role, m.party_member, m.on_community_committees))
    return out


def _check_term(start: date, end: date) -> None:
    if end <= start:
        raise bad_input("a term ends after it starts", "input.termEnd")
    try:
        limit = start.replace(year=start.year + rules.MAX_TERM_YEARS)
    except ValueError:  # from 29 February, as PostgreSQL adds years: to 28 February
        limit = date(start.year + rules.MAX_TERM_YEARS, 2, 28)
    if end > limit:
        raise bad_input(f"a term lasts at most {rules.MAX_TERM_YEARS} years", "input.termEnd")


async def elect(db: Database, actor: Actor, args: ElectionArgs,
                now: datetime | None = None) -> Any:
    """Records an elected committee as the compound's sitting one; every member must meet the
    6 qualifications and hit none of the 8 negative-list items. Returns the committee."""
    operation = Operation.ELECT_COMMITTEE
    policy.check_role(actor, operation, "owners' committees are elected under community staff, "
                      "street officers or the county office")
    _check_term(args.term_start, args.term_end)
    members = _check_candidates(args.members)
    now = now or datetime.now(UTC)
    label = f"compound {args.compound_code}"
    async with db.transaction() as conn:
        found = await place_queries.places_by_key(conn, "compounds", "code", [args.compound_code])
        if not found:
            raise policy.missing(actor, operation, label, DomainError(
                ErrorCode.NOT_FOUND, f"no compound {args.compound_code!r}", "input.compoundCode"))
        compound = found[0]
        if not policy.may(actor, operation, policy.place(compound.community_code, label)):
            raise policy.outside_scope(label)
        # Elections of one compound queue here, so two cannot both become the sitting one.
        await conn.execute("SELECT 1 FROM compounds WHERE code = %s FOR UPDATE",
                           (args.compound_code,))
        sitting = await queries.sitting_committees(conn, [args.compound_code])
        if sitting and args.term_start <= sitting[0].term_start:
            raise bad_input(f"a new term starts after the sitting one "
                            f"({sitting[0].term_start.isoformat()})", "input.termStart")
        return await queries.insert_committee(
            conn, compound_code=args.compound_code, term_start=args.term_start,
            term_end=args.term_end, members=members, at=now, actor=actor.subject)


async def vet(db: Database, actor: Actor, *, member_id: int, negative_items: list[str],
              now: datetime | None = None) -> Any:
    """Records a member's vetting against the negative list; a hit removes them. Returns the
    member as it now stands."""
    operation = Operation.VET_COMMITTEE_MEMBER
    policy.check_role(actor, operation, "members are vetted by community staff, street "
                      "officers or the county office")
    unknown = rules.unknown_negative_items(negative_items)
    if unknown:
        raise bad_input(f"no negative-list item {unknown[0]!r}; they are N1–N8",
                        "negativeItems")
    items = sorted(set(negative_items))
    label = f"committee member {member_id}"
    async with db.transaction() as conn:
        member = await queries.member_for_vetting(conn, member_id)
        if member is None:
            raise policy.missing(actor, operation, label, DomainError(
                ErrorCode.NOT_FOUND, f"no committee member {member_id}", "memberId"))
        policy.authorise(actor, operation, policy.place(member.community_code, label))
        if member.removed_at is not None or not member.sitting:
            raise DomainError(ErrorCode.INVALID_TRANSITION, f"{label} no longer sits on a "
                              "committee", "memberId")
        return await queries.record_vetting(conn, member_id=member_id, items=items,
                                            at=now or datetime.now(UTC), actor=actor.subject)
