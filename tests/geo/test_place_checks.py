"""Ring repair, gaps, overlaps and containment of imported places, on metric polygons."""

from __future__ import annotations

import pytest
from shapely.geometry import LineString, MultiPolygon, Polygon, box

from geo.place_checks import gaps, holes, outside, overlaps, repair


def test_a_valid_polygon_is_kept_as_it_is() -> None:
    square = box(0, 0, 100, 100)
    fixed = repair(square, 0.01)
    assert fixed.geometry is square and not fixed.repaired and fixed.area_change == 0.0


def test_a_small_self_intersection_is_repaired_within_the_tolerance() -> None:
    notch = Polygon([(0, 0), (100, 0), (100, 100), (52, 100), (48, 96), (52, 96), (48, 100),
                     (0, 100)])
    fixed = repair(notch, 0.01)
    assert fixed.repaired and fixed.geometry is not None and fixed.geometry.is_valid
    assert fixed.area_change == pytest.approx(8 / 10_000)
    assert fixed.reason.startswith("Self-intersection")
    assert repair(notch, 0.0001).geometry is None  # the same repair under a tighter limit


def test_a_bow_tie_cannot_be_repaired_without_guessing() -> None:
    bow = Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    fixed = repair(bow, 0.5)
    assert fixed.geometry is None and fixed.area_change == 1.0


def test_a_line_is_no_polygon() -> None:
    assert repair(LineString([(0, 0), (1, 1)]), 0.5).geometry is None


def test_overlaps_are_found_once_per_pair_from_the_minimum_area() -> None:
    cells = [box(0, 0, 100, 100), box(90, 0, 200, 100), box(200, 0, 300, 100),
             box(299.99, 0, 400, 100)]
    found = overlaps(cells, 1.0)
    assert [(o.first, o.second, round(o.area_m2, 6)) for o in found] == [(0, 1, 1000.0)]
    assert overlaps(cells[:1], 1.0) == []


def test_gaps_inside_a_parent_and_holes_between_neighbours() -> None:
    parent = box(0, 0, 300, 100)
    children = [box(0, 0, 100, 100), box(110, 0, 300, 100)]
    (gap,) = gaps(parent, children, 1.0)
    assert gap.area_m2 == pytest.approx(1000.0) and parent.contains(gap.at)
    assert 100 < gap.at.x < 110
    ring = MultiPolygon([box(0, 0, 300, 100).difference(box(100, 40, 120, 60))])
    (hole,) = holes([ring.geoms[0]], 1.0)
    assert hole.area_m2 == pytest.approx(400.0)
    assert holes([box(0, 0, 1, 1)], 1.0) == []


def test_outside_measures_how_far_a_child_sticks_out() -> None:
    parent = box(0, 0, 100, 100)
    assert outside(box(10, 10, 20, 20), parent).distance_m == 0.0
    out = outside(box(90, 10, 130, 20), parent)
    assert out.distance_m == pytest.approx(30.0) and out.area_m2 == pytest.approx(300.0)
