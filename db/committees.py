"""Owners' committees 业主委员会 (业委会): the rules their members are held to.

- On election every member meets the 6 qualifications (`QUALIFICATIONS`) and hits none of the
  8 negative-list items (`NEGATIVE_LIST`); a committee has exactly one chair and a term of at
  most 5 years.
- Vetting 审查 checks a sitting member against the negative list; a member who hits an item is
  removed (and replaced by a by-election).
- Party members 党员 hold at least 60% of the chair and vice-chair seats (`PARTY_SHARE`): the
  county's share is checked, and committees below it are listed for the community to act on.

The account's figures: 1,400+ members vetted, 55 replaced; 210 of the chairs and vice-chairs
are cadres or party members, 66.25%. The wording of the conditions below is compiled for the
demo from common municipal rules, not the county's text.
"""

from __future__ import annotations

from fractions import Fraction

ROLES = ("CHAIR", "VICE_CHAIR", "MEMBER")
LEADER_ROLES = frozenset({"CHAIR", "VICE_CHAIR"})
VETTING_OUTCOMES = ("PASSED", "REMOVED")
PARTY_SHARE = Fraction(3, 5)  # at least 60% of chairs and vice-chairs
MAX_TERM_YEARS = 5

QUALIFICATIONS = {
    "Q1": "本物业管理区域内具有完全民事行为能力的业主",
    "Q2": "遵守法律法规和管理规约，模范履行业主义务",
    "Q3": "热心公益事业，责任心强，具有一定组织协调能力",
    "Q4": "具备履行职责所需的工作时间",
    "Q5": "按时足额交纳物业服务费和专项维修资金",
    "Q6": "本人及近亲属未在本区域物业服务企业任职",
}
NEGATIVE_LIST = {
    "N1": "受过刑事处罚",
    "N2": "被列为失信被执行人",
    "N3": "拒不交纳物业服务费或专项维修资金",
    "N4": "违法搭建或擅自改变房屋用途且拒不整改",
    "N5": "在本区域物业服务企业任职或与其存在利害关系",
    "N6": "索取、收受物业服务企业或利害关系人财物",
    "N7": "挪用、侵占业主共有财产",
    "N8": "煽动业主非法聚集、扰乱公共秩序",
}


def meets_party_share(party_leaders: int, leader_seats: int) -> bool:
    """Whether party members hold at least 60% of the chair and vice-chair seats (exactly,
    with no rounding: 3 of 5 meets it, 5 of 9 does not). No seats, no share to meet."""
    return leader_seats == 0 or Fraction(party_leaders, leader_seats) >= PARTY_SHARE


def missing_qualifications(met: list[str]) -> list[str]:
    """The qualifications a candidate has not been found to meet, in code order."""
    return [q for q in QUALIFICATIONS if q not in met]


def unknown_negative_items(items: list[str]) -> list[str]:
    return [i for i in items if i not in NEGATIVE_LIST]
