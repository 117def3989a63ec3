"""The field-mapping file of `redgrid import`: which file and layer hold which level of places,
and which source field gives each attribute. TOML; the format is described in the README
("Importing your own places") and `docs/import-mapping.example.toml` is a complete example.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The attributes of each level 层级: required first, then optional ones. Parents are named by
# code: a community's street is its code's first 9 digits, a cell's or a compound's community
# its code's first 12 unless a field gives it.
LEVEL_ATTRIBUTES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "streets": (("code", "name"), ()),
    "zones": (("code", "name", "street"), ("secretary",)),
    "communities": (("code", "name", "zone", "households", "population"), ()),
    "grid_cells": (("code", "households"), ("community",)),
    "compounds": (("code", "name", "households", "population"),
                  ("community", "elderly", "children")),
    "buildings": (("code", "compound", "floors", "households"), ("cell",)),
}
# Every import names these; compounds and buildings are optional (a level the mapping leaves
# out is kept as the database holds it).
REQUIRED_LEVELS = ("streets", "zones", "communities", "grid_cells")


class MappingError(ValueError):
    """The mapping file is unusable: what is wrong and where."""


@dataclass(frozen=True)
class Tolerances:
    """How much an import forgives: a repair's share of area change; the m² from which a gap or
    an overlap between neighbours is reported (a warning) and from which it stops the import;
    the metres by which a child may stick out of its parent."""

    repair_area_change: float = 0.01
    neighbour_m2: float = 1.0
    reject_neighbour_m2: float = 1000.0
    outside_parent_m: float = 0.5


@dataclass(frozen=True)
class LevelSource:
    """Where one level comes from: a file, a layer in it, the SRID to read it in whatever the
    file declares (`srid`) or where it declares none (`default_srid`), and the source field of
    each attribute."""

    level: str
    path: Path
    layer: str | None
    srid: int | None
    fields: Mapping[str, str] = field(default_factory=dict)
    default_srid: int | None = None


@dataclass(frozen=True)
class ImportMapping:
    levels: tuple[LevelSource, ...]
    tolerances: Tolerances


def _srid(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise MappingError(f"{where}: srid must be a positive EPSG code, got {value!r}")
    return value


def _file(name: Any, paths: list[Path], level: str) -> Path:
    if name is None:
        if len(paths) == 1:
            return paths[0]
        raise MappingError(f"[{level}]: say which file holds it (file = \"...\"): "
                           f"{len(paths)} files were given")
    matches = [p for p in paths if p.name == name or str(p) == name]
    if not matches:
        raise MappingError(f"[{level}]: file {name!r} is not among the files given: "
                           + ", ".join(p.name for p in paths))
    return matches[0]


def _tolerances(table: Any) -> Tolerances:
    if not isinstance(table, dict):
        raise MappingError("[tolerance] must be a table")
    known = set(Tolerances.__dataclass_fields__)
    unknown = set(table) - known
    if unknown:
        raise MappingError(f"[tolerance]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    for key, value in table.items():
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise MappingError(f"[tolerance]: {key} must be a number ≥ 0, got {value!r}")
    return Tolerances(**{k: float(v) for k, v in table.items()})


def _level(level: str, table: Any, paths: list[Path], default_srid: int | None) -> LevelSource:
    if not isinstance(table, dict):
        raise MappingError(f"[{level}] must be a table")
    unknown = set(table) - {"file", "layer", "srid", "fields"}
    if unknown:
        raise MappingError(f"[{level}]: unknown keys {sorted(unknown)}")
    fields = table.get("fields", {})
    required, optional = LEVEL_ATTRIBUTES[level]
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise MappingError(f"[{level}.fields] must map attributes to source field names")
    unknown = set(fields) - set(required) - set(optional)
    if unknown:
        raise MappingError(f"[{level}.fields]: unknown attributes {sorted(unknown)}; "
                           f"known: {', '.join(required + optional)}")
    missing = [a for a in required if a not in fields]
    if missing:
        raise MappingError(f"[{level}.fields]: say which source field gives {', '.join(missing)}")
    layer = table.get("layer")
    if layer is not None and not isinstance(layer, str):
        raise MappingError(f"[{level}]: layer must be a name")
    return LevelSource(level, _file(table.get("file"), paths, level), layer,
                       _srid(table.get("srid"), f"[{level}]"), dict(fields), default_srid)


def parse_mapping(text: str, paths: list[Path]) -> ImportMapping:
    """The mapping in `text` (TOML), its files resolved among `paths`."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"not valid TOML: {exc}") from exc
    unknown = set(doc) - set(LEVEL_ATTRIBUTES) - {"srid", "tolerance"}
    if unknown:
        raise MappingError(f"unknown sections {sorted(unknown)}; "
                           f"levels are {', '.join(LEVEL_ATTRIBUTES)}")
    missing = [lv for lv in REQUIRED_LEVELS if lv not in doc]
    if missing:
        raise MappingError(f"the mapping names no {', '.join(missing)}: every import holds "
                           f"{', '.join(REQUIRED_LEVELS)}")
    default_srid = _srid(doc.get("srid"), "srid")
    levels = tuple(_level(lv, doc[lv], paths, default_srid)
                   for lv in LEVEL_ATTRIBUTES if lv in doc)
    return ImportMapping(levels, _tolerances(doc.get("tolerance", {})))


def load_mapping(path: Path, paths: list[Path]) -> ImportMapping:
    """The mapping file at `path`, its files resolved among `paths`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc.strerror}") from exc
    return parse_mapping(text, paths)
