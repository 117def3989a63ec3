"""A small county written as GIS files for the import tests: one street, one zone, two
communities of two grid cells each and a compound in each, laid out in EPSG:4549 metres next
to the Linshu county seat, then written with GDAL (pyogrio) in the reference system asked for.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo.projection import from_metric_array, to_metric

X0, Y0 = to_metric(118.70, 34.95)  # north-east of the demo's places: no overlap with them
Features = list[tuple[dict[str, Any], BaseGeometry]]

STREET, ZONE = "371329001", "Z1"
WEST, EAST = "371329001001", "371329001002"


def rect(x: float, y: float, w: float, h: float) -> Polygon:
    """A w × h m rectangle at (x, y) m from the county's corner."""
    return box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


def county() -> dict[str, Features]:
    """The levels of the small county, each a list of (properties, metric polygon)."""
    whole = rect(0, 0, 2000, 1000)
    return {
        "streets": [({"code": STREET, "name": "测试街道"}, MultiPolygon([whole]))],
        "zones": [({"code": ZONE, "name": "第一片区", "street_code": STREET,
                    "secretary_name": "王书记"}, MultiPolygon([whole]))],
        "communities": [
            ({"code": c, "name": f"{n}社区", "zone_code": ZONE, "street_code": STREET,
              "households": 800, "population": 2200}, rect(x, 0, 1000, 1000))
            for c, n, x in ((WEST, "西苑", 0), (EAST, "东苑", 1000))],
        "grid_cells": [
            ({"code": f"{c}00{i}", "community_code": c, "households": 400},
             rect(x, 500 if i == 1 else 0, 1000, 500))
            for c, x in ((WEST, 0), (EAST, 1000)) for i in (1, 2)],
        "compounds": [
            ({"code": f"{c}C01", "name": f"{n}小区", "community_code": c, "households": 300,
              "population": 820}, rect(x + 200, 200, 300, 300))
            for c, n, x in ((WEST, "翠园", 0), (EAST, "锦园", 1000))],
    }


def changed(levels: dict[str, Features], level: str, which: str,
            geometry: BaseGeometry | None = None, **properties: Any) -> dict[str, Features]:
    """A copy of `levels` with the feature coded `which` given new properties or shape."""
    out = copy.deepcopy(levels)
    for i, (props, geom) in enumerate(out[level]):
        if props["code"] == which:
            out[level][i] = ({**props, **properties}, geometry if geometry is not None else geom)
            return out
    raise KeyError(which)


def _in(srid: int | None, geom: BaseGeometry) -> BaseGeometry:
    if srid in (None, 4549):
        return geom
    lonlat = shapely.transform(geom, from_metric_array)
    if srid == 4326:
        return lonlat
    from pyproj import Transformer

    to = Transformer.from_crs("EPSG:4326", f"EPSG:{srid}", always_xy=True)
    return shapely.transform(lonlat, lambda xy: np.column_stack(to.transform(xy[:, 0], xy[:, 1])))


def write_layer(path: Path, layer: str, features: Features, srid: int | None = 4326,
                declared: int | None | str = "same") -> None:
    """Writes one layer: coordinates in EPSG:`srid`, the file declaring `declared` (the same
    by default, None for no reference system at all)."""
    names = list(features[0][0])
    data = [np.array([props.get(n) for props, _ in features],
                     dtype=object if isinstance(features[0][0][n], str) else np.int64)
            for n in names]
    geoms = np.array([shapely.to_wkb(_in(srid, g)) for _, g in features], dtype=object)
    kind = "MultiPolygon" if isinstance(features[0][1], MultiPolygon) else "Polygon"
    crs = srid if declared == "same" else declared
    with warnings.catch_warnings():
        # A file without a reference system is what the test asks for.
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        pyogrio.raw.write(path, geoms, data, names, layer=layer, geometry_type=kind,
                          crs=f"EPSG:{crs}" if crs else None,
                          append=path.exists() and path.suffix == ".gpkg")


def write_county(folder: Path, levels: dict[str, Features], name: str = "places.gpkg",
                 **kw: Any) -> Path:
    """All levels as layers of one file (a GeoPackage by default)."""
    path = folder / name
    for level, features in levels.items():
        write_layer(path, level, features, **kw)
    return path
