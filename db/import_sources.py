"""Reads one level of places from a GeoPackage, Shapefile or GeoJSON with GDAL/OGR (pyogrio),
into WGS-84 for storage, with what went wrong per feature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from db.import_mapping import LevelSource
from geo.types import SRID_WGS84

# Where a place in China can lie (lon, lat): coordinates read outside it were read in the
# wrong reference system.
CHINA = (73.0, 3.0, 136.0, 54.0)


@dataclass(frozen=True)
class Finding:
    """One line of the import report: how bad, which feature (layer + code or fid), what kind
    of fault (a stable UPPER_SNAKE word) and what happened."""

    severity: str  # ERROR stops the import; REPAIRED and NOTE do not
    layer: str
    feature: str
    kind: str
    message: str

    def line(self) -> str:
        where = f"{self.layer}:{self.feature}" if self.feature else self.layer
        return f"{self.severity:<8} {where}  {self.kind}  {self.message}"


@dataclass
class SourceFeature:
    """One feature as read: its fid, its attributes by RedGrid name and its geometry in WGS-84
    (None when it has none or it lies outside China)."""

    fid: int
    values: dict[str, Any]
    lonlat: BaseGeometry | None


@dataclass
class SourceLayer:
    level: str
    layer: str
    features: list[SourceFeature] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _layer_name(src: LevelSource) -> str:
    if src.layer is not None:
        return src.layer
    names = [str(n) for n, _ in pyogrio.list_layers(src.path)]
    if len(names) == 1:
        return names[0]
    if src.level in names:
        return src.level
    raise pyogrio.errors.DataLayerError(
        f"{src.path.name} has layers {', '.join(names)}: say which is {src.level} (layer = ...)")


def _declared_srid(crs: str | None) -> tuple[int | None, str | None]:
    """The EPSG code a file declares, or the text GDAL gave when it maps to none."""
    if not crs:
        return None, None
    try:
        epsg = CRS.from_user_input(crs).to_epsg()
    except CRSError:
        return None, crs
    return epsg, None if epsg else crs


def _reader_crs(src: LevelSource, layer: SourceLayer, declared: str | None) -> CRS | None:
    """The reference system to read the layer in: the level's `srid` (it corrects a wrong
    declaration), else the file's own, else the mapping's `srid` for files that declare none."""
    epsg, unnamed = _declared_srid(declared)
    if src.srid is not None:
        if epsg is not None and epsg != src.srid:
            layer.findings.append(Finding(
                "NOTE", layer.layer, "", "SRID_OVERRIDDEN",
                f"the file declares EPSG:{epsg}; read as EPSG:{src.srid} as the mapping says"))
        return CRS.from_epsg(src.srid)
    if epsg is not None:
        return CRS.from_epsg(epsg)
    if unnamed is not None:
        return CRS.from_user_input(unnamed)
    if src.default_srid is not None:
        return CRS.from_epsg(src.default_srid)
    layer.findings.append(Finding(
        "ERROR", layer.layer, "", "MISSING_SRID",
        "the file declares no reference system and the mapping gives none (srid = ...)"))
    return None


def _projector(crs: CRS) -> Callable[[np.ndarray], np.ndarray]:
    to_wgs84 = Transformer.from_crs(crs, CRS.from_epsg(SRID_WGS84), always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = to_wgs84.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((x, y))

    return project


def read_level(src: LevelSource) -> SourceLayer:
    """The features of one mapped level, with MISSING_FIELD, MISSING_SRID and WRONG_SRID
    findings; an unreadable file raises `pyogrio.errors.DataSourceError`."""
    name = _layer_name(src)
    layer = SourceLayer(src.level, name)
    info = pyogrio.read_info(src.path, layer=name)
    present = {str(f) for f in info["fields"]}
    for attribute, source_field in src.fields.items():
        if source_field not in present:
            layer.findings.append(Finding(
                "ERROR", name, "", "MISSING_FIELD",
                f"no field {source_field!r} (for {attribute}); the layer has "
                + (", ".join(sorted(present)) or "no fields")))
    crs = _reader_crs(src, layer, info.get("crs"))
    if layer.findings and any(f.severity == "ERROR" for f in layer.findings):
        return layer
    columns = sorted(set(src.fields.values()))
    meta, fids, geometry, data = pyogrio.raw.read(src.path, layer=name, columns=columns,
                                                  return_fids=True)
    by_name = dict(zip([str(f) for f in meta["fields"]], data, strict=True))
    geoms = shapely.from_wkb(geometry) if geometry is not None else [None] * len(fids)
    assert crs is not None
    project = _projector(crs)
    srid_text = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else "the file's reference system"
    if crs.to_epsg() != SRID_WGS84:
        layer.findings.append(Finding("NOTE", name, "", "TRANSFORMED",
                                      f"read in {srid_text}, stored in EPSG:{SRID_WGS84}"))
    misplaced: list[str] = []
    for i, fid in enumerate(fids.tolist()):
        values = {a: _plain(by_name[f][i]) for a, f in src.fields.items()}
        geom = geoms[i]
        lonlat = None
        if geom is not None and not geom.is_empty:
            lonlat = shapely.transform(geom, project)
            west, south, east, north = lonlat.bounds
            if not (np.isfinite([west, south, east, north]).all() and CHINA[0] <= west
                    and east <= CHINA[2] and CHINA[1] <= south and north <= CHINA[3]):
                misplaced.append(str(values.get("code") or f"fid {fid}"))
                lonlat = None
        layer.features.append(SourceFeature(int(fid), values, lonlat))
    if misplaced:
        layer.findings.append(Finding(
            "ERROR", name, misplaced[0], "WRONG_SRID",
            f"read in {srid_text}, {len(misplaced)} feature(s) land outside China "
            f"(first: {misplaced[0]}): the reference system is wrong; give the right one in "
            f"the mapping (srid = ...)"))
    return layer


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; NaN and empty text as missing."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value
