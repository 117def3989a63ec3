"""The end-to-end site-selection instance of bench/site_selection.py, built in PostGIS: a scratch
database of the benchmark's own (migrated, the demo seeded), synthetic compounds 小区 as extra
demand points, and the candidate points and geodesic distances both solvers are given.

Every compound is a demand point of `suggestSites` (its centre, ST_PointOnSurface of the
outline, weighing its households), so the synthetic demand points are small square compounds
(10 m a side) around points drawn as the bulk tickets fall; they are coded BENCH00001... .
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from _db import conninfo, drop, ensure

from db.queries.planning import CANDIDATES
from db.seed import CENTRE
from web.settings import Settings

SCRATCH = "redgrid_bench_sites_scratch"
SYNTHETIC_PREFIX = "BENCH"
SIDE_M = 10.0
PEOPLE_PER_HOUSEHOLD = 3
REDGRID = Path(sys.executable).parent / "redgrid"


@contextmanager
def scratch_database(env: dict[str, str]) -> Iterator[tuple[dict[str, str], Settings]]:
    """The benchmark's own database on the configured server (the embedded cluster or
    DATABASE_URL's), created fresh, migrated and seeded with the demo; dropped on leaving.
    Yields the environment that points `redgrid` at it, and its settings."""
    env = {k: v for k, v in env.items() if k != "REDGRID_DATABASE"}
    settings = Settings.from_env(env).with_database(SCRATCH)
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = settings.database_url
    else:
        env["REDGRID_DATABASE"] = SCRATCH
    drop(settings)  # what an interrupted run left behind
    ensure(settings)
    try:
        for args in (["migrate"], ["seed", "--demo"]):
            print(f"redgrid {' '.join(args)} ({SCRATCH})", file=sys.stderr)
            subprocess.run([str(REDGRID), *args], env=env, check=True, stdout=subprocess.DEVNULL)
        yield env, settings
    finally:
        drop(settings)
        print(f"dropped {SCRATCH}", file=sys.stderr)


def add_compounds(settings: Settings, xy: np.ndarray, communities: Sequence[str],
                  households: np.ndarray) -> int:
    """Writes one small square compound per point (local frame metres) in its community."""
    half = SIDE_M / 2
    rows = []
    for n, ((x, y), community, h) in enumerate(zip(xy, communities, households), start=1):
        square = shapely.box(x - half, y - half, x + half, y + half)
        geom = shapely.set_srid(CENTRE.geometry_to_lonlat(square), 4326)
        rows.append((f"{SYNTHETIC_PREFIX}{n:05d}", f"合成小区 {n}", community, int(h),
                     int(h) * PEOPLE_PER_HOUSEHOLD,
                     shapely.to_wkb(geom, hex=True, include_srid=True)))
    with psycopg.connect(conninfo(settings)) as conn:
        with conn.cursor().copy("COPY compounds (code, name, community_code, households, "
                                "population, geom) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        conn.execute("ANALYZE compounds")
    return len(rows)


@dataclass(frozen=True)
class Candidates:
    """The race's candidate sites: the idle service rooms (the SERVICE_ROOMS set, first, as
    `suggestSites` orders them) and the points sent as extraCandidates."""

    rooms: list[tuple[float, float]]
    extra: list[tuple[float, float]]

    @property
    def points(self) -> list[tuple[float, float]]:
        return self.rooms + self.extra


def _lonlats(rows: Sequence[Any]) -> list[tuple[float, float]]:
    return [(float(r[-2]), float(r[-1])) for r in rows]


def candidates(settings: Settings, rng: np.random.Generator, total: int) -> Candidates:
    """The idle service rooms, every demo compound's centre and grid-cell centres drawn at
    random to make `total` candidates, as the database answers for them."""
    with psycopg.connect(conninfo(settings)) as conn:
        rooms = _lonlats(conn.execute(CANDIDATES["SERVICE_ROOMS"]).fetchall())
        compounds = _lonlats([r for r in conn.execute(CANDIDATES["COMPOUND_CENTERS"]).fetchall()
                              if not r[0].startswith(SYNTHETIC_PREFIX)])
        cells = _lonlats(conn.execute(CANDIDATES["GRID_CELL_CENTERS"]).fetchall())
    wanted = total - len(rooms) - len(compounds)
    if wanted < 0:
        raise SystemExit(f"{total} candidates are fewer than the {len(rooms)} idle rooms and "
                         f"{len(compounds)} compound centres")
    picks = sorted(rng.choice(len(cells), size=wanted, replace=False))
    return Candidates(rooms, compounds + [cells[i] for i in picks])


_MATRIX = """
WITH cand AS MATERIALIZED (
    SELECT ord, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS g
    FROM unnest(%(lons)s::float8[], %(lats)s::float8[]) WITH ORDINALITY AS p(lon, lat, ord))
SELECT c.code, c.households,
       ARRAY(SELECT ST_Distance(cand.g, ST_PointOnSurface(c.geom)::geography)
             FROM cand ORDER BY cand.ord) AS metres
FROM compounds c ORDER BY c.code
"""


def demand_matrix(settings: Settings, points: Sequence[tuple[float, float]],
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(geodesic metres from every compound's centre to every candidate, households), in
    compound code order: PostGIS's ST_Distance on the ellipsoid, as `suggestSites` measures."""
    with psycopg.connect(conninfo(settings)) as conn:
        rows = conn.execute(_MATRIX, {"lons": [p[0] for p in points],
                                      "lats": [p[1] for p in points]}).fetchall()
    cost = np.array([r[2] for r in rows], dtype=float)
    return cost, np.array([r[1] for r in rows], dtype=float)


def covered(cost: np.ndarray, weights: np.ndarray, radius: float, chosen: Sequence[int]) -> float:
    return float(weights[(cost[:, list(chosen)] <= radius).any(axis=1)].sum())


def nearest_candidate(points: Sequence[tuple[float, float]], lon: float, lat: float) -> int:
    """The index of the candidate at (lon, lat), as an answer's site point gives it back."""
    d = np.hypot(np.array([p[0] for p in points]) - lon, np.array([p[1] for p in points]) - lat)
    j = int(d.argmin())
    if d[j] > 1e-7:  # about a centimetre
        raise AssertionError(f"no candidate at ({lon}, {lat}); nearest {d[j]:.2e}° away")
    return j


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "memory_gb": round(mem_kb / 1024 ** 2, 1),
            "loadavg_start": os.getloadavg()}
