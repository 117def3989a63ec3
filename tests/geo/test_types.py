from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from geo.types import SRID_METRIC, SRID_WGS84, BBox, Crs, GeoInputError, LonLat


def test_srids_and_crs_values() -> None:
    assert (SRID_WGS84, SRID_METRIC) == (4326, 4549)
    assert [c.value for c in Crs] == ["WGS84", "GCJ02", "BD09"]
    assert Crs("GCJ02") is Crs.GCJ02
    assert Crs.BD09 == "BD09"


def test_geo_input_error_attributes() -> None:
    err = GeoInputError("bad lon", field="lon")
    assert isinstance(err, ValueError)
    assert (err.message, err.field, err.code) == ("bad lon", "lon", "BAD_USER_INPUT")
    assert str(err) == "bad lon"
    assert GeoInputError("x", code="OTHER").field is None
    assert GeoInputError("x", code="OTHER").code == "OTHER"


def test_lonlat_accepts_edges_and_normalises_to_float() -> None:
    p = LonLat(180, np.float32(-90.0))  # type: ignore[arg-type]
    assert (p.lon, p.lat) == (180.0, -90.0)
    assert type(p.lon) is float and type(p.lat) is float
    assert LonLat(118.6, 34.9) == LonLat(118.6, 34.9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.lon = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("lon", "lat", "field", "range_text"),
    [
        (math.nan, 0.0, "lon", "[-180, 180]"),
        (math.inf, 0.0, "lon", "[-180, 180]"),
        (-math.inf, 0.0, "lon", "[-180, 180]"),
        (180.0001, 0.0, "lon", "[-180, 180]"),
        (-181.0, 0.0, "lon", "[-180, 180]"),
        (0.0, math.nan, "lat", "[-90, 90]"),
        (0.0, math.inf, "lat", "[-90, 90]"),
        (0.0, 90.5, "lat", "[-90, 90]"),
        (0.0, -91.0, "lat", "[-90, 90]"),
    ],
)
def test_lonlat_rejects_bad_values(lon: float, lat: float, field: str, range_text: str) -> None:
    with pytest.raises(GeoInputError) as info:
        LonLat(lon, lat)
    err = info.value
    assert err.field == field
    assert err.code == "BAD_USER_INPUT"
    assert range_text in err.message
    assert repr(lon if field == "lon" else lat) in err.message


@pytest.mark.parametrize("bad", [True, "118.6", None])
def test_lonlat_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(GeoInputError) as info:
        LonLat(bad, 0.0)  # type: ignore[arg-type]
    assert info.value.field == "lon"


def test_bbox_valid_and_as_tuple() -> None:
    box = BBox(118.5, 34.8, 118.8, 35.05)
    assert box.as_tuple() == (118.5, 34.8, 118.8, 35.05)
    assert BBox(1, 2, 1, 2).as_tuple() == (1.0, 2.0, 1.0, 2.0)
    assert hash(BBox(0, 0, 1, 1)) == hash(BBox(0.0, 0.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((math.nan, 0.0, 1.0, 1.0), "west"),
        ((0.0, -math.inf, 1.0, 1.0), "south"),
        ((0.0, 0.0, 181.0, 1.0), "east"),
        ((0.0, 0.0, 1.0, 91.0), "north"),
        ((0.0, 0.0, 1.0, math.nan), "north"),
    ],
)
def test_bbox_rejects_bad_values(args: tuple[float, float, float, float], field: str) -> None:
    with pytest.raises(GeoInputError) as info:
        BBox(*args)
    assert info.value.field == field


def test_bbox_rejects_inverted_west_east() -> None:
    with pytest.raises(GeoInputError) as info:
        BBox(118.8, 34.8, 118.5, 35.05)
    assert info.value.field == "west"
    assert "west must not exceed east" in info.value.message


def test_bbox_rejects_inverted_south_north() -> None:
    with pytest.raises(GeoInputError) as info:
        BBox(118.5, 35.05, 118.8, 34.8)
    assert info.value.field == "south"
    assert "south must not exceed north" in info.value.message
