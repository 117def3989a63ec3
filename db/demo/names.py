"""Names for the synthetic demo data: real ones where known, generated ones elsewhere."""

from __future__ import annotations

import random

STREETS = ("临沭街道", "郑山街道")
# Zone names by street: 3 zones in 临沭街道, 2 in 郑山街道.
ZONES = (("沭河片区", "城中片区", "城北片区"), ("郑山东片区", "郑山西片区"))
REAL_COMMUNITIES = ("沭河", "阳光", "平安", "红石湖")
GENERATED_COMMUNITIES = (
    "东城", "西关", "北园", "南湖", "兴华", "文昌", "育才", "滨河", "金山", "青云", "常林",
    "玉山", "凤凰", "和平", "幸福", "光明", "振兴", "盛世", "新华", "城北", "城南", "龙泉",
    "桃园", "柳岸", "苍山", "翠湖", "丰源", "永安", "福临", "锦绣", "康宁", "祥和", "瑞园",
    "泰和", "鸿福", "嘉禾", "明德", "崇文", "望湖",
)
# Real compounds and the community each stands in.
REAL_COMPOUNDS = {"翡翠星城": "沭河", "瓯龙现代城": "平安", "华丰现代城": "阳光"}
COMPOUND_PREFIXES = (
    "金色", "银河", "阳光", "书香", "锦江", "碧水", "紫荆", "恒泰", "御景", "丽都", "清华",
    "盛和", "银座", "金域", "滨江", "凯旋", "东方", "汇通", "怡和", "天成", "兰亭", "龙湾",
    "海棠", "香樟", "枫林", "世纪", "沂河", "温泉", "正阳", "鑫源",
)
COMPOUND_SUFFIXES = ("花园", "家园", "小区", "雅苑", "名都", "新城", "公馆", "华府")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国志新海波德福林燕鹏辉"
PROPERTY_COMPANIES = (
    "鲁信", "沂蒙", "临沭城建", "金盾", "绿城", "润华", "恒通", "安居", "佳禾", "鑫诚",
    "万和", "泰安", "宏达", "福瑞", "康达", "兴业", "嘉华", "颐和", "中鲁", "城发",
    "华信", "德馨", "融创", "永泰", "明珠",
)


def person(rng: random.Random) -> str:
    """A plausible synthetic Chinese personal name."""
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "150", "151", "186", "187")) + f"{rng.randrange(10**8):08d}"


def compound_names(rng: random.Random, count: int) -> list[str]:
    """`count` distinct generated compound names."""
    pool = [p + s for p in COMPOUND_PREFIXES for s in COMPOUND_SUFFIXES]
    pool = [n for n in pool if n not in REAL_COMPOUNDS]
    rng.shuffle(pool)
    return pool[:count]
