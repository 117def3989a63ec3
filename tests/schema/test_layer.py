"""`layer`: a whole layer as one FeatureCollection, the same features as SQL selects."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import resolvers.layers
from db.queries.layers import LAYERS
from geo.datum import transform_geojson
from geo.projection import to_metric
from geo.types import Crs
from schema.layers import LayerName
from tests.conftest import GraphQLClient, Minter

LAYER = """query ($name: LayerName!, $bbox: BBoxInput, $crs: Crs) {
  layer(name: $name, bbox: $bbox, crs: $crs) }"""
CELL = "371329001001001"
BOX = {"west": 118.62, "south": 34.92, "east": 118.64, "north": 34.935}


def features(client: GraphQLClient, name: str, **variables: Any) -> list[dict[str, Any]]:
    collection = client.data(LAYER, {"name": name, **variables})["layer"]
    assert collection["type"] == "FeatureCollection"
    found: list[dict[str, Any]] = collection["features"]
    return found


def positions(geometry: Any) -> list[float]:
    """Every coordinate of a geometry, flattened."""
    if isinstance(geometry, (int, float)):
        return [float(geometry)]
    return [x for part in geometry for x in positions(part)]


def on_grid_centre(lon: float, lat: float) -> bool:
    x, y = to_metric(lon, lat)
    return all(abs((v - 50) - 100 * round((v - 50) / 100)) < 0.05 for v in (x, y))


def test_layer_names_are_the_catalogue() -> None:
    assert {member.value for member in LayerName} == set(LAYERS)


@pytest.mark.parametrize("name", [name for name in LAYERS if not LAYERS[name].per_caller])
def test_each_layer_has_every_row(gql: GraphQLClient, db: psycopg.Connection,
                                  name: str) -> None:
    layer = LAYERS[name]
    got = features(gql, name.upper())
    row = db.execute(f"SELECT count(*) FROM {layer.table}").fetchone()
    assert row is not None
    count = row[0]
    assert len(got) == count > 0
    assert len({f["id"] for f in got}) == count
    assert set(got[0]["properties"]) == {p for p, _ in layer.properties}
    assert got[0]["geometry"]["type"] in (layer.geometry_type, "Polygon", "MultiPolygon")


@pytest.mark.parametrize("name", ["compounds", "facilities", "grid_cells"])
def test_bbox_selects_what_intersects_it(gql: GraphQLClient, db: psycopg.Connection,
                                         name: str) -> None:
    got = {f["id"] for f in features(gql, name.upper(), bbox=BOX)}
    expected = {r[0] for r in db.execute(
        f"SELECT code FROM {name} WHERE ST_Intersects(geom, "
        "ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326))", BOX)}
    assert got == expected and 0 < len(got) < 100


@pytest.mark.parametrize(("name", "crs"), [("COMPOUNDS", Crs.GCJ02), ("FACILITIES", Crs.BD09),
                                           ("ZONES", Crs.GCJ02)])
def test_chinese_datums_match_the_python_transform(gql: GraphQLClient, name: str,
                                                   crs: Crs) -> None:
    wgs84 = gql.data(LAYER, {"name": name})["layer"]
    shifted = gql.data(LAYER, {"name": name, "crs": crs.value})["layer"]
    expected = transform_geojson(wgs84, crs)
    assert [f["id"] for f in shifted["features"]] == [f["id"] for f in expected["features"]]
    for got, want in zip(shifted["features"], expected["features"], strict=True):
        assert got["properties"] == want["properties"]
        assert positions(got["geometry"]["coordinates"]) == pytest.approx(
            positions(want["geometry"]["coordinates"]), abs=2e-7)
    # The shift is real here (about 500 m for GCJ-02), not a no-op.
    first = positions(wgs84["features"][0]["geometry"]["coordinates"])
    moved = positions(shifted["features"][0]["geometry"]["coordinates"])
    assert abs(first[0] - moved[0]) > 1e-3


def test_public_tickets_are_counts_per_square_without_personal_data(
        gql: GraphQLClient, db: psycopg.Connection) -> None:
    response = gql.client.post("/graphql", json={"query": LAYER,
                                                 "variables": {"name": "TICKETS"}})
    text = response.text
    got = response.json()["data"]["layer"]["features"]
    expected = {f"square-{r[0]}-{r[1]}": r[2] for r in db.execute(
        "SELECT floor(ST_X(geom_metric) / 100)::bigint, floor(ST_Y(geom_metric) / 100)::bigint, "
        "count(*) FROM tickets GROUP BY 1, 2 HAVING count(*) >= 3")}
    assert {f["id"]: f["properties"]["count"] for f in got} == expected and expected
    for word in ("reporter", "phone", "description"):
        assert word not in text
    personal = {v for row in db.execute("SELECT reporter_name, reporter_phone, description, code "
                                        "FROM tickets") for v in row if v}
    values = {v for f in got for v in f["properties"].values() if isinstance(v, str)}
    assert personal and not values & personal
    assert all(f["properties"]["precise"] is False for f in got)
    assert all(on_grid_centre(*f["geometry"]["coordinates"]) for f in got)


def test_a_grid_worker_sees_their_cell_exactly(gql: GraphQLClient, token: Minter,
                                               db: psycopg.Connection) -> None:
    worker = gql.as_(token("GRID_WORKER", CELL, sub="w-layer"))
    exact = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT code, ST_X(geom), ST_Y(geom) FROM tickets WHERE cell_code = %s", (CELL,))}
    row = db.execute("SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM (SELECT "
                     "ST_Extent(geom) AS x FROM grid_cells WHERE code = %s) q", (CELL,)).fetchone()
    assert row is not None
    box = dict(zip(("west", "south", "east", "north"), row, strict=True))
    got = features(worker, "TICKETS", bbox=box)
    mine = {f["id"]: f for f in got if f["properties"]["precise"]}
    assert set(mine) == set(exact) and exact
    for code, f in mine.items():
        assert f["geometry"]["coordinates"] == pytest.approx(exact[code], abs=1e-7)
    # Without a box, the tickets layer is counts per square for every caller.
    assert not any(f["properties"]["precise"] for f in features(worker, "TICKETS"))


def test_an_unknown_layer_is_a_validation_error(gql: GraphQLClient) -> None:
    error = gql.error("{ layer(name: PARCELS) }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


@pytest.mark.parametrize(("bbox", "field"), [
    ({"west": 118.7, "south": 34.9, "east": 118.6, "north": 34.95}, "bbox.west"),
    ({"west": 118.6, "south": 34.9, "east": 118.7, "north": 95.0}, "bbox.north"),
])
def test_a_bad_bbox_has_a_code(gql: GraphQLClient, bbox: dict[str, float], field: str) -> None:
    error = gql.error(LAYER, {"name": "COMPOUNDS", "bbox": bbox})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field


def test_a_box_with_too_many_ticket_records_is_refused_before_drawing(
        gql: GraphQLClient, county: GraphQLClient, token: Minter, db: psycopg.Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolvers.layers, "MAX_TICKET_RECORDS", 100)
    in_box = db.execute("SELECT count(*) FROM tickets WHERE ST_Intersects(geom, "
                        "ST_MakeEnvelope(%s, %s, %s, %s, 4326))", tuple(BOX.values())).fetchone()
    assert in_box is not None and in_box[0] > 100
    error = county.error(LAYER, {"name": "TICKETS", "bbox": BOX})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "bbox"}
    # The same box is fine for the public (squares) and a grid worker (one cell's records).
    assert features(gql, "TICKETS", bbox=BOX)
    cell = db.execute("SELECT cell_code FROM tickets WHERE ST_Intersects(geom, ST_MakeEnvelope("
                      "%s, %s, %s, %s, 4326)) GROUP BY 1 HAVING count(*) < 50 "
                      "ORDER BY count(*) DESC LIMIT 1", tuple(BOX.values())).fetchone()
    assert cell is not None
    worker = gql.as_(token("GRID_WORKER", cell[0], sub="w-layer-cap"))
    assert any(f["properties"]["precise"] for f in features(worker, "TICKETS", bbox=BOX))
