from __future__ import annotations

import numpy as np
import pytest

from geo.projection import (
    METRIC_SCALE_TOLERANCE,
    from_metric,
    from_metric_array,
    geodesic_distance_m,
    to_metric,
    to_metric_array,
)

LINSHU = (118.5, 34.8, 118.8, 35.05)


def test_central_meridian_maps_to_false_easting() -> None:
    x, y = to_metric(120.0, 35.0)
    assert x == pytest.approx(500000.0, abs=1e-6)
    assert 3.8e6 < y < 3.9e6


def test_linshu_lies_west_of_central_meridian() -> None:
    x, y = to_metric(118.65, 34.92)
    assert 370000 < x < 385000
    assert 3.86e6 < y < 3.87e6


def test_scalar_round_trip() -> None:
    lon, lat = from_metric(*to_metric(118.6543, 34.9321))
    assert lon == pytest.approx(118.6543, abs=1e-10)
    assert lat == pytest.approx(34.9321, abs=1e-10)


def test_arrays_match_scalars() -> None:
    rng = np.random.default_rng(11)
    lonlat = np.column_stack(
        (rng.uniform(LINSHU[0], LINSHU[2], 50), rng.uniform(LINSHU[1], LINSHU[3], 50))
    )
    metric = to_metric_array(lonlat)
    assert metric.shape == (50, 2)
    for (lon, lat), (x, y) in zip(lonlat, metric, strict=True):
        assert to_metric(lon, lat) == pytest.approx((x, y), abs=1e-6)
    back = from_metric_array(metric)
    np.testing.assert_allclose(back, lonlat, rtol=0, atol=1e-10)
    assert to_metric_array(np.empty((0, 2))).shape == (0, 2)


@pytest.mark.parametrize("bad", [np.zeros(2), np.zeros((3, 3)), np.zeros((2, 2, 2))])
def test_arrays_reject_wrong_shape(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        to_metric_array(bad)
    with pytest.raises(ValueError):
        from_metric_array(bad)


def test_geodesic_distance_reference_values() -> None:
    # One degree of meridian at the equator on WGS-84.
    assert geodesic_distance_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(110574.3886, abs=1e-3)
    assert geodesic_distance_m(118.6, 34.9, 118.6, 34.9) == 0.0
    d = geodesic_distance_m(118.5, 34.8, 118.8, 35.05)
    assert d == pytest.approx(geodesic_distance_m(118.8, 35.05, 118.5, 34.8), abs=1e-9)
    assert 38000 < d < 40000


def test_metric_scale_tolerance_bounds_linshu_distortion() -> None:
    rng = np.random.default_rng(2024)
    n = 2000
    a = np.column_stack(
        (rng.uniform(LINSHU[0], LINSHU[2], n), rng.uniform(LINSHU[1], LINSHU[3], n))
    )
    b = np.column_stack(
        (rng.uniform(LINSHU[0], LINSHU[2], n), rng.uniform(LINSHU[1], LINSHU[3], n))
    )
    # Short pairs too: the local scale, not just the average over long chords, must fit.
    b[: n // 4] = a[: n // 4] + rng.uniform(-0.002, 0.002, (n // 4, 2))
    pa, pb = to_metric_array(a), to_metric_array(b)
    projected = np.hypot(*(pa - pb).T)
    geodesic = np.array([geodesic_distance_m(*p, *q) for p, q in zip(a, b, strict=True)])
    keep = geodesic > 10.0
    deviation = np.abs(geodesic[keep] / projected[keep] - 1.0)
    worst = float(deviation.max())
    # Gauss-Kruger scale 1.2-1.5 degrees off CM 120E is about 1 + 2e-4.
    assert 1e-4 < worst < 3e-4
    assert worst < METRIC_SCALE_TOLERANCE
    assert METRIC_SCALE_TOLERANCE <= 1e-3
