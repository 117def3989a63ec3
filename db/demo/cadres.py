"""Demo community cadres 社区干部 (397, as in the account) and the management rules as data:
12 kinds of pay deduction, 10 of suspension or dismissal and the yearly political check, with
cases decided under them, the yearly checks, training trips and mentoring pairs of new and
experienced secretaries 以老带新. The rules' wording and the cases are invented; the counts of
cadres and of rule kinds are the account's. Its own random stream."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from db.demo import names
from db.demo.places import Places
from db.demo.timeline import Timeline

CADRE_COUNT = 397
RULES = (
    ("D01", "DEDUCTION", "工作纪律松懈、迟到早退"), ("D02", "DEDUCTION", "值班期间脱岗"),
    ("D03", "DEDUCTION", "群众诉求办理超时"), ("D04", "DEDUCTION", "群众满意度评价较低"),
    ("D05", "DEDUCTION", "网格巡查不到位"), ("D06", "DEDUCTION", "台账资料不实"),
    ("D07", "DEDUCTION", "无故缺席会议"), ("D08", "DEDUCTION", "安全隐患排查不力"),
    ("D09", "DEDUCTION", "政策宣传不到位"), ("D10", "DEDUCTION", "信访矛盾化解不力"),
    ("D11", "DEDUCTION", "志愿服务组织不力"), ("D12", "DEDUCTION", "环境卫生整治不力"),
    ("S01", "SUSPENSION", "违反政治纪律"), ("S02", "SUSPENSION", "贪污侵占集体资金"),
    ("S03", "SUSPENSION", "优亲厚友、处事不公"), ("S04", "SUSPENSION", "失职造成重大损失"),
    ("S05", "SUSPENSION", "连续两年考核不合格"), ("S06", "SUSPENSION", "受到刑事处罚"),
    ("S07", "SUSPENSION", "涉黑涉恶"), ("S08", "SUSPENSION", "煽动参与群体性事件"),
    ("S09", "SUSPENSION", "长期不在岗"), ("S10", "SUSPENSION", "违规操纵选举"),
    ("C01", "CHECK", "年度政治体检"),
)
ELECTED = date(2021, 5, 20)  # the last general election of the two committees 换届
TRAININGS = (("社区治理能力提升培训", "浙江安吉"), ("城市基层党建专题培训", "青岛市南区"),
             ("物业服务矛盾调处培训", "临沂市委党校"), ("新任社区书记岗前培训", "临沭县委党校"))


@dataclass(frozen=True)
class CadrePlan:
    code: str
    name: str
    community_code: str
    post: str
    party_member: bool
    elected_on: date


@dataclass(frozen=True)
class CadreRecords:
    cadres: list[CadrePlan]
    cases: list[tuple[str, str, date, str]]  # cadre, rule, decided on, note
    checks: list[tuple[str, int, date, bool]]  # cadre, year, checked on, passed
    trainings: list[tuple[str, str, date, int, list[str]]]
    mentorships: list[tuple[str, str, date]]  # mentor, mentee, since


def _posts(n: int) -> list[str]:
    return ["SECRETARY", "DIRECTOR", "DEPUTY_SECRETARY", "DEPUTY_DIRECTOR"] + ["MEMBER"] * (n - 4)


def plan_cadres(rng: random.Random, places: Places, timeline: Timeline) -> CadreRecords:
    comms = places.communities
    sizes = [CADRE_COUNT // len(comms)] * len(comms)
    for i in rng.sample(range(len(comms)), CADRE_COUNT - sum(sizes)):
        sizes[i] += 1
    cadres: list[CadrePlan] = []
    new_secretaries: list[str] = []
    for comm, size in zip(comms, sizes):
        for n, post in enumerate(_posts(size), start=1):
            elected = ELECTED
            if post == "SECRETARY" and rng.random() < 0.15:  # by-elected in the window
                elected = timeline.month_start(rng.randrange(2, 8)).date()
            code = f"CD{comm.code[-5:]}{n:02d}"
            if elected != ELECTED:
                new_secretaries.append(code)
            cadres.append(CadrePlan(code, names.person(rng), comm.code, post,
                                    post != "MEMBER" or rng.random() < 0.7, elected))
    deductions = [r[0] for r in RULES if r[1] == "DEDUCTION"]
    window = (timeline.now.date() - timeline.first_month).days
    cases = [(c.code, rng.choice(deductions),
              timeline.first_month + timedelta(days=rng.randrange(window)), "扣减当月绩效报酬")
             for c in rng.sample(cadres, 34)]
    cases += [(c.code, rule, timeline.first_month + timedelta(days=rng.randrange(window)),
               "停职检查") for c, rule in zip(rng.sample(cadres, 2), ("S04", "S09"))]
    checks: list[tuple[str, int, date, bool]] = []
    unchecked = {c.code for c in rng.sample(cadres, 3)}
    failed = {c.code for c in rng.sample(cadres, 2)}
    for year in range(timeline.first_month.year, timeline.as_of.year + 1):
        held = date(year, 12, rng.randint(5, 20))
        if held > timeline.as_of:
            continue
        for c in cadres:
            if c.elected_on > held or (c.code in unchecked and year == timeline.as_of.year - 1):
                continue
            checks.append((c.code, year, held, not (c.code in failed and year == held.year)))
    trainings = []
    for i, (title, destination) in enumerate(TRAININGS):
        started = timeline.month_start(2 + 4 * i).date() + timedelta(days=rng.randrange(20))
        if started > timeline.as_of:
            break
        pool = [c for c in cadres if c.code in new_secretaries] if "新任" in title else cadres
        who = sorted(c.code for c in rng.sample(pool, min(len(pool), rng.randint(20, 40))))
        trainings.append((title, destination, started, rng.randint(3, 7), who))
    secretaries = [c for c in cadres if c.post == "SECRETARY" and c.elected_on == ELECTED]
    mentors = rng.sample(secretaries, len(new_secretaries))
    by_code = {c.code: c for c in cadres}
    mentorships = [(m.code, new, by_code[new].elected_on)
                   for m, new in zip(mentors, new_secretaries)]
    return CadreRecords(cadres, cases, checks, trainings, mentorships)


ZONE_POSTS = ("SECRETARY", "DEPUTY_SECRETARY", "COORDINATOR", "COORDINATOR", "GRID_LEAD",
              "GRID_LEAD")
ZONE_SECRETARY_SURNAMES = "王李张刘陈"  # as the zones' secretaries are named in the demo (王书记 …)


def plan_zone_staff(rng: random.Random, places: Places) -> list[tuple[str, str, str, str]]:
    """Each zone 片区's staff: its secretary (the 王书记 of the zones table), a deputy, two
    coordinators and two grid leads; (code, zone, name, post)."""
    out = []
    for i, (zone_code, *_rest) in enumerate(places.zones):
        for n, post in enumerate(ZONE_POSTS, start=1):
            name = names.person(rng)
            if post == "SECRETARY":
                name = ZONE_SECRETARY_SURNAMES[i] + name[1:]
            out.append((f"ZS{zone_code[1:]}{n:02d}", zone_code, name, post))
    return out


# The community scorecard's components and weights (the one table of them, seeded here and
# read by the scorecard): hotline handling 60%, volunteers 20%, owners' committees 20%.
ASSESSMENT_WEIGHTS = (
    ("ON_TIME", "0.300", "工单按时办结率"), ("RATING", "0.200", "群众满意度"),
    ("ESCALATIONS", "0.050", "提级督办（越少越好）"), ("REOPENINGS", "0.050", "重新办理（越少越好）"),
    ("VOLUNTEERS", "0.200", "党员志愿服务履职"), ("OWNERS_COMMITTEES", "0.200", "业委会合规"),
)
