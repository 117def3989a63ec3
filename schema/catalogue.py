"""The responsibility manual 责任清单 in the API: demand categories and items, readable by
everyone; thin fields over `resolvers/catalogue.py`."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from strawberry.types import Info

from resolvers import catalogue
from resolvers.vocabulary import DEADLINES, labels


@strawberry.enum(description="How long a demand item may take (12345 hotline practice): "
                             "emergency 2 h; water, power, gas, heating 24 h; general 7 days; "
                             "complex 15 days.")
class DeadlineClass(enum.Enum):
    EMERGENCY_2H = "EMERGENCY_2H"
    UTILITY_24H = "UTILITY_24H"
    GENERAL_7D = "GENERAL_7D"
    COMPLEX_15D = "COMPLEX_15D"


@strawberry.type(description="A kind of unit the manual names, e.g. PROPERTY_COMPANY 物业服务企业.")
class UnitKind:
    code: str
    name: str

    @classmethod
    def of(cls, code: str) -> UnitKind:
        return cls(code=code, name=labels.UNIT_KIND_NAMES.get(code, code))


@strawberry.type(description="One of the 46 demand items 诉求事项 of the responsibility manual.")
class DemandItem:
    code: str
    name: str = strawberry.field(description="In Chinese, e.g. 电梯故障或困人.")
    name_en: str
    category_code: str
    lead_unit_kind: UnitKind = strawberry.field(description="The kind of unit that leads (牵头).")
    cooperating_unit_kinds: list[UnitKind] = strawberry.field(
        description="The kinds of unit that cooperate (配合), in the manual's order. "
                    "At most a few (0 to 4 in the manual).")
    deadline_class: DeadlineClass
    deadline_hours: int
    deadline_name: str = strawberry.field(description="In Chinese, e.g. 一般（7 天）.")
    legal_basis: str = strawberry.field(description="The laws and clauses behind the item "
                                                    "(法律依据).")

    @strawberry.field
    async def category(self, info: Info) -> DemandCategory:
        return DemandCategory.of(await info.context.loaders.demand_category.load(
            self.category_code))

    @classmethod
    def of(cls, row: Any) -> DemandItem:
        return cls(code=row.code, name=row.name_zh, name_en=row.name_en,
                   category_code=row.category_code,
                   lead_unit_kind=UnitKind.of(row.lead_unit_kind),
                   cooperating_unit_kinds=[UnitKind.of(k) for k in row.cooperating_unit_kinds],
                   deadline_class=DeadlineClass(row.deadline_class),
                   deadline_hours=int(DEADLINES[row.deadline_class].total_seconds()) // 3600,
                   deadline_name=labels.DEADLINE_NAMES[row.deadline_class],
                   legal_basis=row.legal_basis)


@strawberry.type(description="One of the 5 major categories of the responsibility manual.")
class DemandCategory:
    code: str
    name: str = strawberry.field(description="In Chinese, e.g. 物业服务.")
    name_en: str

    @strawberry.field(description="Its items in code order. All of them (a handful to a dozen).")
    async def items(self, info: Info) -> list[DemandItem]:
        return [DemandItem.of(r) for r in await catalogue.items(info.context.db,
                                                                 category_code=self.code)]

    @classmethod
    def of(cls, row: Any) -> DemandCategory:
        return cls(code=row.code, name=row.name_zh, name_en=row.name_en)


@strawberry.type
class CatalogueQuery:
    @strawberry.field(description="The responsibility manual's categories (public). All of "
                                  "them (5).")
    async def demand_categories(self, info: Info) -> list[DemandCategory]:
        return [DemandCategory.of(r) for r in await catalogue.categories(info.context.db)]

    @strawberry.field(description="The manual's 46 demand items in code order, of one category "
                                  "when `categoryCode` is given (NOT_FOUND for an unknown "
                                  "category); public. All that match (46 at most).")
    async def demand_items(self, info: Info, category_code: str | None = None) -> list[DemandItem]:
        return [DemandItem.of(r) for r in await catalogue.items(info.context.db,
                                                                 category_code=category_code)]

    @strawberry.field(description="One demand item by its code (P01–P46); null if there is none.")
    async def demand_item(self, info: Info, code: str) -> DemandItem | None:
        row = await catalogue.item(info.context.db, code)
        return DemandItem.of(row) if row else None
