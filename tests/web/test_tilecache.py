"""Place tiles kept in memory for their max-age; ticket tiles never."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient

from tests.conftest import Minter
from tests.web.test_tiles import tile_of
from web.tilecache import TileCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_tile_lives_for_its_ttl() -> None:
    clock = Clock()
    cache = TileCache(ttl_s=300, clock=clock)
    cache.put("a", b"tile")
    clock.now += 299.9
    assert cache.get("a") == (b"tile", "")
    clock.now += 0.2
    assert cache.get("a") is None and len(cache) == 0 and cache.size == 0


def test_the_least_recently_used_go_first_within_the_budget() -> None:
    cache = TileCache(max_bytes=1600)  # at most 100 bytes a tile: 1/16 of the budget
    for key in "abcdefghijklmnop":
        cache.put(key, b"x" * 100)
    assert cache.size == 1600
    assert cache.get("a") is not None  # now the most recently used
    cache.put("q", b"x" * 100)
    assert cache.get("b") is None  # the least recently used made room
    assert cache.get("a") is not None and cache.get("q") is not None and cache.size == 1600
    cache.put("huge", b"x" * 101)  # one tile must not flush the others
    assert cache.get("huge") is None and cache.get("c") is not None and cache.size == 1600


@contextmanager
def statements(client: TestClient) -> Iterator[list[str]]:
    seen: list[str] = []
    observers = client.app.state.tile_db.observers  # type: ignore[attr-defined]
    observers.append(seen.append)
    try:
        yield seen
    finally:
        observers.remove(seen.append)


def test_a_place_tile_is_rendered_once(client: TestClient) -> None:
    x, y = tile_of(118.657, 34.918, 15)
    path = f"/tiles/compounds/15/{x}/{y}.mvt?crs=BD09"
    with statements(client) as seen:
        first = client.get(path)
        second = client.get(path)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    assert len([s for s in seen if "ST_AsMVT" in s]) <= 1  # none when an earlier test drew it


def test_ticket_tiles_are_rendered_for_every_request(client: TestClient, token: Minter) -> None:
    x, y = tile_of(118.657, 34.918, 16)
    county = {"Authorization": f"Bearer {token('COUNTY_OFFICE', sub='no-cache')}"}
    with statements(client) as seen:
        for _ in range(2):
            assert client.get(f"/tiles/tickets/16/{x}/{y}.mvt", headers=county).content
    assert len([s for s in seen if "ST_AsMVT" in s]) == 2
