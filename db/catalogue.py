"""The demand catalogue: 5 categories and 46 items of the property-domain responsibility manual."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

CATALOGUE_CSV = Path(__file__).with_name("data") / "demand_catalogue.csv"
# The legal basis 法律依据 of each item: a summary of the laws and clauses behind it, compiled
# for the demo from the national and provincial texts it names (not the county's own wording).
LEGAL_BASIS_CSV = Path(__file__).with_name("data") / "demand_legal_basis.csv"
# Hotline (12345) practice: emergency 2 h; water, power, gas, heating 24 h; general 7 days;
# complex 15 days.
DEADLINES = {
    "EMERGENCY_2H": timedelta(hours=2),
    "UTILITY_24H": timedelta(hours=24),
    "GENERAL_7D": timedelta(days=7),
    "COMPLEX_15D": timedelta(days=15),
}


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    category_code: str
    category_zh: str
    category_en: str
    name_zh: str
    name_en: str
    lead_unit_kind: str
    cooperating_unit_kinds: tuple[str, ...]
    deadline_class: str
    legal_basis: str


def load_legal_basis(path: Path = LEGAL_BASIS_CSV) -> dict[str, str]:
    """The legal basis text of each item, by item code."""
    with path.open(encoding="utf-8", newline="") as f:
        return {row["code"]: row["legal_basis"].strip() for row in csv.DictReader(f)}


def load_catalogue(path: Path = CATALOGUE_CSV,
                   basis_path: Path = LEGAL_BASIS_CSV) -> list[CatalogueItem]:
    """The 46 items in code order; ValueError when an item has no legal basis."""
    basis = load_legal_basis(basis_path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    unfounded = [row["code"] for row in rows if not basis.get(row["code"])]
    if unfounded:
        raise ValueError(f"no legal basis for {', '.join(unfounded)} in {basis_path.name}")
    return [
        CatalogueItem(
            code=row["code"], category_code=row["category_code"],
            category_zh=row["category_zh"], category_en=row["category_en"],
            name_zh=row["item_zh"], name_en=row["item_en"],
            lead_unit_kind=row["lead_unit_kind"],
            cooperating_unit_kinds=tuple(k for k in row["cooperating_unit_kinds"].split(";") if k),
            deadline_class=row["deadline_class"],
            legal_basis=basis[row["code"]],
        )
        for row in rows
    ]
