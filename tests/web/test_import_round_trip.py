"""The demo's places out through the OGC API with `ogr2ogr`, into an empty database with
`redgrid import` and the shipped example mapping, and the same answers from the contract
queries on both databases."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from db import migrate
from db.import_mapping import load_mapping
from db.place_import import ImportReport, import_places
from db.urls import psycopg_conninfo
from tests.conftest import GraphQLClient, Minter, create_database, drop_database, serving
from web.app import create_app
from web.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "import-mapping.example.toml"
LEVELS = ("streets", "zones", "communities", "grid_cells", "compounds")
ROUND_TRIP_DB = f"redgrid_round_trip_{os.getpid()}"

PLACES = """{
  zones { code name secretaryName street { code } communities { code } }
  communities { code name households population zone { code } street { code }
                compounds { code } gridCells { code } }
  compounds { code name households population community { code } }
  gridCells { code households community { code } }
}"""
LOCATE = """query ($p: PointInput!) { locate(point: $p) {
  gridCell { code } compound { code } community { code } zone { code } street { code } } }"""
MARKET = "{ marketGroups { number communities { code } } }"
WHAT_IF = """query ($r: Float!, $add: [PointInput!], $remove: [String!]) {
  whatIf(kind: STATION, radiusM: $r, add: $add, removeCodes: $remove) {
    after { total covered share uncovered(first: 1000) { compound { code } }
            byCommunity { code total covered } byZone { code total covered } } } }"""


@pytest.fixture(scope="module")
def exported(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's places as GDAL's OGC API client fetches them into a GeoPackage."""
    out = tmp_path_factory.mktemp("export") / "places.gpkg"
    with serving(settings) as url:
        done = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{url}/ogc", *LEVELS],
                              capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def imported(base_settings: Settings, settings: Settings,
             exported: Path) -> Iterator[tuple[Settings, ImportReport]]:
    """An empty database filled by `redgrid import` from the export."""
    s = replace(create_database(base_settings, ROUND_TRIP_DB), job_interval_s=0.0,
                webhook_interval_s=0.0)
    migrate.upgrade(s.database_url)
    report = import_places(psycopg_conninfo(s.database_url), load_mapping(EXAMPLE, [exported]))
    yield s, report
    drop_database(base_settings, ROUND_TRIP_DB)


@pytest.fixture(scope="module")
def again(imported: tuple[Settings, ImportReport]) -> Iterator[GraphQLClient]:
    with TestClient(create_app(imported[0])) as client:
        yield GraphQLClient(client)


def test_the_export_imports_without_errors(imported: tuple[Settings, ImportReport]) -> None:
    report = imported[1]
    assert report.errors == [] and report.written
    assert report.places == {"streets": 2, "zones": 5, "communities": 43, "grid_cells": 429,
                             "compounds": 230}
    # What is reported are slivers between cells and their community, none of a real size.
    assert {(f.severity, f.kind) for f in report.findings} <= {("WARNING", "GAP"),
                                                                ("WARNING", "OVERLAP")}
    assert all(float(f.message.split(" m²")[0].split()[-1].replace(",", "")) < 50
               for f in report.findings)


def test_places_and_their_counts_are_the_same(gql: GraphQLClient,
                                              again: GraphQLClient) -> None:
    before, after = gql.data(PLACES), again.data(PLACES)
    assert len(before["communities"]) == 43 and len(before["gridCells"]) == 429
    assert after == before


def _points(n: int) -> list[dict[str, float]]:
    rng = random.Random(16)
    return [{"lon": rng.uniform(118.60, 118.71), "lat": rng.uniform(34.885, 34.95)}
            for _ in range(n)]


def test_locate_answers_the_same_everywhere(gql: GraphQLClient, again: GraphQLClient) -> None:
    inside = 0
    for point in _points(300):
        before, after = gql(LOCATE, {"p": point}), again(LOCATE, {"p": point})
        assert after.get("data") == before.get("data"), point
        codes = [e["extensions"]["code"] for e in before.get("errors", [])]
        assert codes == [e["extensions"]["code"] for e in after.get("errors", [])], point
        inside += codes == []
    assert 150 < inside < 300  # both inside and outside the covered area were asked


def test_market_groups_are_the_same(gql: GraphQLClient, again: GraphQLClient,
                                    token: Minter) -> None:
    planner = token("PLANNER", sub="planner-round-trip")
    before = gql.as_(planner).data(MARKET)
    assert before == again.as_(planner).data(MARKET)


def test_coverage_of_the_same_stations_is_the_same(gql: GraphQLClient, again: GraphQLClient,
                                                   token: Minter) -> None:
    """The imported database has no facilities: the demo's stations are removed there and the
    same points proposed on both sides, so the coverage after (`whatIf.after`) is comparable."""
    planner = token("PLANNER", sub="planner-round-trip")
    stations = gql.data("{ facilities(kind: STATION) { code geometry } }")["facilities"]
    add = [{"lon": s["geometry"]["coordinates"][0], "lat": s["geometry"]["coordinates"][1]}
           for s in stations[::4]]
    variables: dict[str, Any] = {"r": 300.0, "add": add}
    before = gql.as_(planner).data(WHAT_IF, {**variables,
                                             "remove": [s["code"] for s in stations]})
    after = again.as_(planner).data(WHAT_IF, {**variables, "remove": []})
    assert before["whatIf"]["after"]["covered"] > 0
    assert after == before
