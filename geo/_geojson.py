"""Coordinate mapping over arbitrary GeoJSON objects, batched through numpy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from geo.types import GeoInputError

# Nesting depth of "coordinates" per geometry type: 0 is a single position.
_DEPTH = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}

_Convert = Callable[[np.ndarray], np.ndarray]


def _children(obj: dict[str, Any]) -> tuple[str, int | None]:
    # Returns the member holding nested content and, for plain geometries, its depth.
    kind = obj.get("type")
    if kind == "FeatureCollection":
        return "features", None
    if kind == "GeometryCollection":
        return "geometries", None
    if kind == "Feature":
        return "geometry", None
    if isinstance(kind, str) and kind in _DEPTH:
        return "coordinates", _DEPTH[kind]
    raise GeoInputError(f"unsupported GeoJSON type {kind!r}", field="type")


def _require_dict(obj: object) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise GeoInputError(f"expected a GeoJSON object, got {type(obj).__name__}")
    return obj


def _walk_coords(coords: object, depth: int, sink: list[list[Any]]) -> None:
    if not isinstance(coords, list | tuple):
        raise GeoInputError(f"malformed GeoJSON coordinates: {coords!r}", field="coordinates")
    if depth == 0:
        if len(coords) < 2:
            raise GeoInputError(f"malformed GeoJSON position: {coords!r}", field="coordinates")
        sink.append([coords[0], coords[1]])
        return
    for child in coords:
        _walk_coords(child, depth - 1, sink)


def _collect(obj: object, sink: list[list[Any]]) -> None:
    node = _require_dict(obj)
    member, depth = _children(node)
    content: Any = node.get(member)
    if depth is not None:
        # An empty Point ("coordinates": []) is what shapely emits; it has no position.
        if not (depth == 0 and content == []):
            _walk_coords(content, depth, sink)
    elif member == "geometry":
        if content is not None:
            _collect(content, sink)
    else:
        if not isinstance(content, list):
            raise GeoInputError(f"GeoJSON member {member!r} must be a list", field=member)
        for child in content:
            _collect(child, sink)


def _rebuild_coords(coords: Any, depth: int, rows: Iterator[list[float]]) -> list[Any]:
    if depth == 0:
        # Altitude and any further members ride along untouched.
        return [*next(rows), *coords[2:]]
    return [_rebuild_coords(child, depth - 1, rows) for child in coords]


def _rebuild(node: dict[str, Any], rows: Iterator[list[float]]) -> dict[str, Any]:
    member, depth = _children(node)
    content: Any = node.get(member)
    out = dict(node)
    if depth is not None:
        if not (depth == 0 and content == []):
            out[member] = _rebuild_coords(content, depth, rows)
    elif member == "geometry":
        out[member] = None if content is None else _rebuild(content, rows)
    else:
        out[member] = [_rebuild(child, rows) for child in content]
    if "bbox" in node:
        out["bbox"] = _recomputed_bbox(out, node["bbox"])
    return out


def _positions(obj: dict[str, Any]) -> np.ndarray:
    sink: list[list[Any]] = []
    _collect(obj, sink)
    try:
        arr = np.array(sink, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError) as exc:
        raise GeoInputError("GeoJSON coordinates must be numbers", field="coordinates") from exc
    if not np.isfinite(arr).all():
        raise GeoInputError("GeoJSON coordinates must be finite", field="coordinates")
    return arr


def _recomputed_bbox(new: dict[str, Any], old: object) -> list[Any]:
    # A stale bbox would contradict the converted coordinates, so it is rebuilt; the
    # altitude range of a 3-D bbox is unaffected by a horizontal datum shift.
    if not isinstance(old, list | tuple) or len(old) not in (4, 6):
        raise GeoInputError("GeoJSON bbox must have 4 or 6 numbers", field="bbox")
    xy = _positions(new)
    if xy.shape[0] == 0:
        return list(old)
    (x0, y0), (x1, y1) = xy.min(axis=0).tolist(), xy.max(axis=0).tolist()
    if len(old) == 6:
        return [x0, y0, old[2], x1, y1, old[5]]
    return [x0, y0, x1, y1]


def map_positions(obj: dict[str, Any], convert: _Convert) -> dict[str, Any]:
    """Return a new GeoJSON object with every position's lon/lat passed through convert."""
    arr = _positions(obj)
    # One batched conversion for the whole object keeps large collections fast.
    rows: list[list[float]] = convert(arr).tolist() if arr.shape[0] else []
    return _rebuild(obj, iter(rows))
