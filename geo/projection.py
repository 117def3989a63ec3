"""WGS-84 <-> CGCS2000 Gauss-Kruger metres (EPSG:4549) and geodesic distances."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pyproj import Geod, Transformer

from geo._xy import as_xy
from geo.types import SRID_METRIC, SRID_WGS84

# Built once: Transformer construction costs milliseconds, a transform microseconds.
# pyproj >= 3.1 Transformers are thread-safe, so module-level sharing is fine.
_TO_METRIC = Transformer.from_crs(f"EPSG:{SRID_WGS84}", f"EPSG:{SRID_METRIC}", always_xy=True)
_FROM_METRIC = Transformer.from_crs(f"EPSG:{SRID_METRIC}", f"EPSG:{SRID_WGS84}", always_xy=True)
_GEOD = Geod(ellps="WGS84")

# Bound on |geodesic / projected - 1| over Linshu (lon 118.5-118.8, lat 34.8-35.05).
# The Gauss-Kruger scale there is about 1 + 2.3e-4 (1.2-1.5 degrees off CM 120E); the
# constant leaves ample margin and tests/geo/test_projection.py re-measures it.
METRIC_SCALE_TOLERANCE: float = 1e-3


def to_metric(lon: float, lat: float) -> tuple[float, float]:
    """Project a WGS-84 lon/lat to EPSG:4549 easting/northing in metres."""
    x, y = _TO_METRIC.transform(lon, lat)
    return float(x), float(y)


def from_metric(x: float, y: float) -> tuple[float, float]:
    """Unproject EPSG:4549 easting/northing in metres to WGS-84 lon/lat."""
    lon, lat = _FROM_METRIC.transform(x, y)
    return float(lon), float(lat)


def to_metric_array(xy: npt.ArrayLike) -> np.ndarray:
    """Project an (n, 2) array of WGS-84 lon/lat rows to EPSG:4549 metres."""
    arr = as_xy(xy)
    x, y = _TO_METRIC.transform(arr[:, 0], arr[:, 1])
    return np.column_stack((x, y))


def from_metric_array(xy: npt.ArrayLike) -> np.ndarray:
    """Unproject an (n, 2) array of EPSG:4549 metre rows to WGS-84 lon/lat."""
    arr = as_xy(xy)
    lon, lat = _FROM_METRIC.transform(arr[:, 0], arr[:, 1])
    return np.column_stack((lon, lat))


def geodesic_distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the WGS-84 ellipsoidal distance in metres between two points."""
    _, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(dist)
