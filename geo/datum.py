"""GCJ-02 and BD-09 basemap datums used by Chinese web maps, relative to WGS-84."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from geo._geojson import map_positions
from geo._xy import as_xy
from geo.types import BBox, Crs

# Krasovsky 1940 ellipsoid, as fixed by the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# The forward image of an inverse must land this close to its target: 1e-9 degrees is
# about 0.1 mm, far below the 0.5 m accuracy the service promises.
INVERSE_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30

_Pair = tuple[float, float]


def out_of_china(lon: float, lat: float) -> bool:
    """Return True when the point lies outside the rectangle the datum shifts apply to."""
    return lon < 72.004 or lon > 137.8347 or lat < 0.8293 or lat > 55.8271


def _out_of_china_array(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_delta(lon: float, lat: float) -> _Pair:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    shared = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += shared
    dlat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += shared
    dlon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * pi)
    return dlon, dlat


def _gcj_delta_array(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Term-for-term mirror of _gcj_delta so scalar and array results agree to rounding.
    x, y = lon - 105.0, lat - 35.0
    pi = np.pi
    shared = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat = dlat + shared
    dlat = dlat + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat = dlat + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon = dlon + shared
    dlon = dlon + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon = dlon + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> _Pair:
    """Convert WGS-84 to GCJ-02; points outside China pass unchanged."""
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> _Pair:
    """Convert GCJ-02 to BD-09; points outside China pass unchanged."""
    if out_of_china(lon, lat):
        return lon, lat
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def wgs84_to_bd09(lon: float, lat: float) -> _Pair:
    """Convert WGS-84 to BD-09; points outside China pass unchanged."""
    if out_of_china(lon, lat):
        return lon, lat
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward: Callable[[float, float], _Pair], lon: float, lat: float) -> _Pair:
    # The shifts vary slowly (derivative ~1e-3), so w <- w - (f(w) - target) contracts
    # the error by about that factor per step and converges in a handful of iterations.
    if out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(_MAX_ITERATIONS):
        f_lon, f_lat = forward(w_lon, w_lat)
        e_lon, e_lat = f_lon - lon, f_lat - lat
        if abs(e_lon) < INVERSE_TOLERANCE_DEG and abs(e_lat) < INVERSE_TOLERANCE_DEG:
            break
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
    return w_lon, w_lat


def gcj02_to_wgs84(lon: float, lat: float) -> _Pair:
    """Convert GCJ-02 to WGS-84 by iterating the forward transform."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> _Pair:
    """Convert BD-09 to GCJ-02 by iterating the forward transform."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> _Pair:
    """Convert BD-09 to WGS-84 by iterating the composed forward transform."""
    return _invert(wgs84_to_bd09, lon, lat)


_FROM_WGS84: dict[Crs, Callable[[float, float], _Pair]] = {
    Crs.GCJ02: wgs84_to_gcj02,
    Crs.BD09: wgs84_to_bd09,
}
_TO_WGS84: dict[Crs, Callable[[float, float], _Pair]] = {
    Crs.GCJ02: gcj02_to_wgs84,
    Crs.BD09: bd09_to_wgs84,
}


def from_wgs84(lon: float, lat: float, crs: Crs) -> _Pair:
    """Convert a WGS-84 point to crs."""
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return lon, lat
    return _FROM_WGS84[crs](lon, lat)


def to_wgs84(lon: float, lat: float, crs: Crs) -> _Pair:
    """Convert a point given in crs to WGS-84."""
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return lon, lat
    return _TO_WGS84[crs](lon, lat)


_Arrays = tuple[np.ndarray, np.ndarray]


def _wgs84_to_gcj02_array(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    outside = _out_of_china_array(lon, lat)
    dlon, dlat = _gcj_delta_array(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _gcj02_to_bd09_array(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    outside = _out_of_china_array(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    bd_lon = z * np.cos(theta) + 0.0065
    bd_lat = z * np.sin(theta) + 0.006
    return np.where(outside, lon, bd_lon), np.where(outside, lat, bd_lat)


def _wgs84_to_bd09_array(lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    return _gcj02_to_bd09_array(*_wgs84_to_gcj02_array(lon, lat))


_ArrayForward = Callable[[np.ndarray, np.ndarray], _Arrays]
_FROM_WGS84_ARRAY: dict[Crs, _ArrayForward] = {
    Crs.GCJ02: _wgs84_to_gcj02_array,
    Crs.BD09: _wgs84_to_bd09_array,
}


def _invert_array(forward: _ArrayForward, lon: np.ndarray, lat: np.ndarray) -> _Arrays:
    # Same iteration as _invert, but each point stops on its own so that array and
    # scalar results agree; only still-moving points are re-evaluated.
    w_lon, w_lat = lon.copy(), lat.copy()
    active = ~_out_of_china_array(lon, lat)
    for _ in range(_MAX_ITERATIONS):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        f_lon, f_lat = forward(w_lon[idx], w_lat[idx])
        e_lon, e_lat = f_lon - lon[idx], f_lat - lat[idx]
        done = (np.abs(e_lon) < INVERSE_TOLERANCE_DEG) & (np.abs(e_lat) < INVERSE_TOLERANCE_DEG)
        moving = ~done
        w_lon[idx[moving]] -= e_lon[moving]
        w_lat[idx[moving]] -= e_lat[moving]
        active[idx[done]] = False
    return w_lon, w_lat


def from_wgs84_array(xy: npt.ArrayLike, crs: Crs) -> np.ndarray:
    """Convert an (n, 2) array of WGS-84 lon/lat rows to crs, returning a new array."""
    arr = as_xy(xy)
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return arr.copy()
    lon, lat = _FROM_WGS84_ARRAY[crs](arr[:, 0], arr[:, 1])
    return np.column_stack((lon, lat))


def to_wgs84_array(xy: npt.ArrayLike, crs: Crs) -> np.ndarray:
    """Convert an (n, 2) array of lon/lat rows in crs to WGS-84, returning a new array."""
    arr = as_xy(xy)
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return arr.copy()
    lon, lat = _invert_array(_FROM_WGS84_ARRAY[crs], arr[:, 0], arr[:, 1])
    return np.column_stack((lon, lat))


def transform_geojson(obj: dict[str, Any], crs: Crs, inverse: bool = False) -> dict[str, Any]:
    """Return a new GeoJSON object with coordinates converted WGS-84 -> crs (or back)."""
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return obj
    convert = to_wgs84_array if inverse else from_wgs84_array
    return map_positions(obj, lambda xy: convert(xy, crs))


# Each box edge is sampled because the shifted outline of a box is not a box: the shifts
# ripple with periods down to 0.12 degrees (BD-09) and 1/3 degree (GCJ-02).  Samples
# 0.005 degrees apart miss a ripple's crest by under 2e-7 degrees (2 cm); 16 segments
# per edge was measurably short (1.4e-5 degrees) on a county-sized box.
_BBOX_MIN_SEGMENTS = 16
_BBOX_MAX_SEGMENTS = 16384
_BBOX_SAMPLE_SPACING_DEG = 0.005


def bbox_to_wgs84(bbox: BBox, crs: Crs) -> BBox:
    """Return the WGS-84 envelope of the converted outline of a box given in crs."""
    crs = Crs(crs)
    if crs is Crs.WGS84:
        return bbox
    span = max(bbox.east - bbox.west, bbox.north - bbox.south)
    segments = math.ceil(span / _BBOX_SAMPLE_SPACING_DEG)
    segments = min(max(segments, _BBOX_MIN_SEGMENTS), _BBOX_MAX_SEGMENTS)
    t = np.linspace(0.0, 1.0, segments, endpoint=False)
    w, s, e, n = bbox.as_tuple()
    lons = np.concatenate(
        (w + (e - w) * t, np.full_like(t, e), e - (e - w) * t, np.full_like(t, w))
    )
    lats = np.concatenate(
        (np.full_like(t, s), s + (n - s) * t, np.full_like(t, n), n - (n - s) * t)
    )
    out = to_wgs84_array(np.column_stack((lons, lats)), crs)
    lo, hi = out.min(axis=0), out.max(axis=0)
    return BBox(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
