"""A local affine metric frame around a centre point, for generating synthetic geometry.

The map from metres to degrees is affine, so straight edges and collinear vertices stay
straight and collinear in WGS-84: a partition made in the frame stays a partition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from shapely import transform
from shapely.geometry.base import BaseGeometry

_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)


@dataclass(frozen=True)
class LocalFrame:
    """Metres east/north of (lon0, lat0), mapped affinely to degrees."""

    lon0: float
    lat0: float

    @property
    def metres_per_degree(self) -> tuple[float, float]:
        phi = math.radians(self.lat0)
        s = 1 - _E2 * math.sin(phi) ** 2
        east = math.pi / 180 * _A * math.cos(phi) / math.sqrt(s)
        north = math.pi / 180 * _A * (1 - _E2) / s**1.5
        return east, north

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        mx, my = self.metres_per_degree
        out = np.empty_like(xy, dtype=float)
        out[:, 0] = self.lon0 + xy[:, 0] / mx
        out[:, 1] = self.lat0 + xy[:, 1] / my
        return out

    def to_metres(self, lonlat: np.ndarray) -> np.ndarray:
        mx, my = self.metres_per_degree
        out = np.empty_like(lonlat, dtype=float)
        out[:, 0] = (lonlat[:, 0] - self.lon0) * mx
        out[:, 1] = (lonlat[:, 1] - self.lat0) * my
        return out

    def geometry_to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return transform(geom, self.to_lonlat)
