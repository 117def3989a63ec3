"""A schema of awkward values for testing execution paths against graphql-core's: nulls on
non-null fields, values a type refuses, exceptions as values and from async resolvers, a
permission class, enums given by value."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from strawberry.permission import BasePermission


@strawberry.enum
class Kind(enum.Enum):
    A = "a"
    B = "b"


@strawberry.type
class Part:
    label: str
    weight: float | None

    @strawberry.field
    async def later(self, times: int = 1) -> int:
        if self.label == "fails later":
            raise RuntimeError("an async resolver fails")
        return len(self.label) * times


class Denied(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    name: str
    count: int | None
    kind: Kind
    ratio: float
    part: Part | None
    main: Part
    # A plain field behind a permission class: the fast path must leave it to Strawberry.
    secret: str = strawberry.field(default="hidden", permission_classes=[Denied])

    @strawberry.field
    async def parts(self, first: int = 2) -> list[Part]:
        return [Part(label=f"{self.name}{i}", weight=float(i)) for i in range(first)]


class Row:
    """A value object whose attributes may be anything, as rows from a database may."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class Boom:
    @property
    def name(self) -> str:
        raise RuntimeError("the attribute itself fails")


def _part(label: Any, weight: Any = 1.0) -> Row:
    return Row(label=label, weight=weight)


ROWS: list[Any] = [
    Row(name="ok", count=1, kind=Kind.A, ratio=0.5, part=_part("p"), main=_part("m", None)),
    # null on a non-null field, here and one level down (nullable part, non-null main)
    Row(name=None, count=2, kind=Kind.B, ratio=1.0, part=_part(None), main=_part("m")),
    Row(name="n", count=2, kind=Kind.B, ratio=1.0, part=None, main=_part(None)),
    Row(name="x", count="not a number", kind=Kind.A, ratio=2.0,  # a value the type refuses
        part=_part("p", "heavy"), main=None),
    Row(name="y", count=None, kind="a", ratio=float("nan"),  # enum by value; NaN refused
        part=_part("fails later"), main=_part("fails later")),
    Row(name=ValueError("an exception as a value"), count=3, kind=Kind.A, ratio=0.0,
        part=_part(ValueError("deep")), main=_part("m")),
    Boom(),
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, good: bool = False) -> list[Item | None]:
        """Every row, or only the first (the one that answers without an error)."""
        return ROWS[:1] if good else ROWS  # type: ignore[return-value]

    @strawberry.field
    def item(self, index: int) -> Item:
        return ROWS[index]  # type: ignore[no-any-return]
