from __future__ import annotations

import math

import pytest

from geo.codes import (
    COUNTY_CODE,
    cell_code,
    code_kind,
    community_code,
    order_west_east_north_south,
    street_code,
)


def test_code_construction() -> None:
    assert COUNTY_CODE == "371329"
    assert street_code(1) == "371329001"
    assert street_code(999) == "371329999"
    street = street_code(12)
    community = community_code(street, 3)
    assert community == "371329012003"
    assert cell_code(community, 45) == "371329012003045"


@pytest.mark.parametrize("n", [0, 1000, -1, True, 1.0, "1"])
def test_sequence_numbers_are_validated(n: object) -> None:
    with pytest.raises(ValueError):
        street_code(n)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        community_code("371329001", n)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cell_code("371329001001", n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "street",
    ["37132900", "3713290011", "37132900a", "371328001", "371329００1", "٣71329001", 371329001],
)
def test_community_code_rejects_bad_street(street: object) -> None:
    with pytest.raises(ValueError):
        community_code(street, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "community", ["371329001", "3713290010011", "371329001x01", "371330001001", ""]
)
def test_cell_code_rejects_bad_community(community: str) -> None:
    with pytest.raises(ValueError):
        cell_code(community, 1)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("371329001", "street"),
        ("371329001002", "community"),
        ("371329001002003", "cell"),
        ("371328001", None),
        ("371329001002003004", None),
        ("3713290010", None),
        ("37132900100a", None),
        ("371329", None),
        ("", None),
    ],
)
def test_code_kind(code: str, kind: str | None) -> None:
    assert code_kind(code) == kind


def test_order_rows_north_to_south_then_west_to_east() -> None:
    # Two rows with a little vertical jitter inside each band.
    centroids = [
        (2.0, 0.1),  # 0: south row, east
        (0.0, 9.8),  # 1: north row, west
        (1.0, 10.0),  # 2: north row, middle (northernmost)
        (0.5, 0.3),  # 3: south row, west
        (3.0, 9.5),  # 4: north row, east
    ]
    assert order_west_east_north_south(centroids, band=3.0) == [1, 2, 4, 3, 0]


def test_order_band_measured_from_northernmost() -> None:
    # With band 1 the rows are (9, 10], (8, 9], ... measured down from y = 10.
    centroids = [(0.0, 10.0), (5.0, 9.01), (-5.0, 8.99), (1.0, 9.0)]
    assert order_west_east_north_south(centroids, band=1.0) == [0, 1, 2, 3]
    # A wider band merges everything into one west-to-east row.
    assert order_west_east_north_south(centroids, band=5.0) == [2, 0, 3, 1]


def test_order_ties_are_deterministic() -> None:
    centroids = [(0.0, 0.0), (0.0, 0.5), (0.0, 0.0)]
    assert order_west_east_north_south(centroids, band=10.0) == [1, 0, 2]


def test_order_empty_and_bad_band() -> None:
    assert order_west_east_north_south([], band=1.0) == []
    for band in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            order_west_east_north_south([(0.0, 0.0)], band=band)
    with pytest.raises(ValueError):
        order_west_east_north_south([(0.0, math.nan)], band=1.0)
