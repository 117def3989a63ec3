"""Chinese names 中文名称 for RedGrid's codes, and the notes the server writes on ticket events.

Codes stay English (`CLINIC`, `P11`, `COUNTY`); what people read is Chinese, written here
once: the demo data, the workflow and the scheduled job all take their notes from this module.
"""

from __future__ import annotations

from functools import cache

from db.catalogue import CatalogueItem, load_catalogue
from db.vocabulary import LEVEL_LABELS

FACILITY_KIND_NAMES = {
    "STATION": "驿站",
    "CLINIC": "社区诊疗点",
    "CANTEEN": "幸福食堂",
    "SERVICE_ROOM": "社服用房",
}
SOCIAL_FIELD_NAMES = {"ELDERLY": "养老服务", "CHILDREN": "儿童关爱", "DISABILITY": "助残服务",
                      "CULTURE": "文体活动", "MEDIATION": "矛盾调解", "HEALTH": "健康服务",
                      "VOLUNTEERING": "志愿服务"}
ROOM_STATUS_NAMES = {"IDLE": "闲置", "IN_USE": "使用中", "RENTED": "已出租"}
ROAD_KIND_NAMES = {"PRIMARY": "主干路", "SECONDARY": "次干路", "MINOR": "支路"}
WATER_KIND_NAMES = {"RIVER": "河流", "CANAL": "沟渠", "POND": "坑塘"}
# The kinds of unit the responsibility manual names as lead or cooperating units.
UNIT_KIND_NAMES = {
    "PROPERTY_COMPANY": "物业服务企业",
    "COMMUNITY": "社区居委会",
    "STREET": "街道办事处",
    "URBAN_MANAGEMENT": "综合行政执法部门",
    "PUBLIC_SECURITY": "公安机关",
    "HOUSING_BUREAU": "住房和城乡建设部门",
    "MARKET_REGULATION": "市场监督管理部门",
    "FIRE_RESCUE": "消防救援机构",
    "WATER_COMPANY": "供水企业",
    "POWER_COMPANY": "供电企业",
    "GAS_COMPANY": "燃气企业",
    "HEATING_COMPANY": "供热企业",
    "TELECOM": "通信运营企业",
    "COUNTY_OFFICE": "县作风效能办公室",
}
DEADLINE_NAMES = {
    "EMERGENCY_2H": "紧急（2 小时）",
    "UTILITY_24H": "水电气暖（24 小时）",
    "GENERAL_7D": "一般（7 天）",
    "COMPLEX_15D": "复杂（15 天）",
}
LEVEL_NAMES = {level.value: name for level, name in LEVEL_LABELS.items()}
REJECT_REASON_NAMES = {"DUPLICATE": "重复诉求", "OUT_OF_SCOPE": "不属受理范围",
                       "INVALID": "无效诉求"}


@cache
def catalogue_items() -> dict[str, CatalogueItem]:
    """The demand items 诉求事项 by code (P01–P46), read once from the packaged catalogue."""
    return {item.code: item for item in load_catalogue()}


def _with(text: str, note: str | None) -> str:
    """`text`, followed by a person's own words when there are any."""
    words = (note or "").strip()
    return f"{text}：{words}" if words else text


DISPATCHED_TO = "已派单至"  # + the unit's name, which SQL reads where it writes the event


def rated(rating: int, comment: str | None = None) -> str:
    """The closing note of a rated ticket; the demo's workflow reads the rating back from it."""
    return _with(f"评价 {rating} 星", comment)


def rejected(reason: str, note: str | None = None) -> str:
    return _with(REJECT_REASON_NAMES.get(reason, reason), note)


def escalated(from_level: str, to_level: str, note: str | None = None) -> str:
    return _with(f"提级督办 {LEVEL_NAMES[from_level]} → {LEVEL_NAMES[to_level]}", note)


def zone_coordinated(note: str | None = None) -> str:
    return _with("片区协调：片区接手督办，重新计时", note)


def reassigned(old_unit: str, new_unit: str) -> str:
    return f"改派：{old_unit} → {new_unit}"


def cell_reassigned(old_cell: str, new_cell: str) -> str:
    """The note of an open ticket moved by an import of new places 网格调整."""
    return f"网格调整：{old_cell} → {new_cell}"


def merged_into(original_code: str) -> str:
    return f"合并至 {original_code}"


def merged_from(duplicate_code: str) -> str:
    return f"{duplicate_code} 已并入"


RESOLVED_DEMO = "已处理"
OVERDUE = "逾期未办结"
AUTO_CLOSED = "办结满 7 天，自动关闭"
