"""Place tiles kept in memory for their max-age; ticket tiles never."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

from starlette.testclient import TestClient

from resolvers.actor import Role
from tests.conftest import Minter, observed
from tests.web.test_tiles import tile_of
from web.app import create_app
from web.auth import TokenVerifier, mint
from web.memo import Memo
from web.settings import Settings
from web.tilecache import TileCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_tile_lives_for_its_ttl() -> None:
    clock = Clock()
    cache = TileCache(ttl_s=300, clock=clock)
    cache.put("a", (b"tile", ""))
    clock.now += 299.9
    assert cache.peek("a") == (b"tile", "")
    clock.now += 0.2
    assert cache.peek("a") is None and len(cache) == 0 and cache.size == 0


def test_the_least_recently_used_go_first_within_the_budget() -> None:
    cache = TileCache(max_bytes=1600)  # at most 100 bytes a tile: 1/16 of the budget
    for key in "abcdefghijklmnop":
        cache.put(key, (b"x" * 100, ""))
    assert cache.size == 1600
    assert cache.peek("a") is not None  # now the most recently used
    cache.put("q", (b"x" * 100, ""))
    assert cache.peek("b") is None  # the least recently used made room
    assert cache.peek("a") is not None and cache.peek("q") is not None and cache.size == 1600
    cache.put("huge", (b"x" * 101, ""))  # one tile must not flush the others
    assert cache.peek("huge") is None and cache.peek("c") is not None and cache.size == 1600


def statements(client: TestClient) -> AbstractContextManager[list[str]]:
    return observed(client.app.state.tile_db)  # type: ignore[attr-defined]


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


def test_the_caches_exist_from_startup_and_concurrent_tile_misses_render_once(
        settings: Settings) -> None:
    x, y = tile_of(118.657, 34.918, 16)
    path = f"/tiles/grid_cells/16/{x}/{y}.mvt?crs=GCJ02"
    with TestClient(create_app(settings)) as fresh:
        state = fresh.app.state  # type: ignore[attr-defined]
        # made in the lifespan, before any request, not lazily inside handlers
        assert isinstance(state.tile_cache, TileCache) and len(state.tile_cache) == 0
        assert isinstance(state.ticket_cell_counts, Memo)
        assert isinstance(state.heatmap_geojson, Memo) and isinstance(state.heatmap_tiles, Memo)
        with statements(fresh) as seen, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: fresh.get(path), range(8)))
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        assert len([s for s in seen if "ST_AsMVT" in s]) == 1  # one render for eight misses


def test_verified_tokens_make_room_for_new_ones_one_at_a_time(settings: Settings) -> None:
    verifier = TokenVerifier(settings.jwt_secret, max_entries=2)
    headers = [f"Bearer {mint(settings.jwt_secret, subject=f'u{i}', role=Role.RESIDENT, scopes=[])}"
               for i in range(3)]
    for header in headers:
        verifier.actor(header)
    # the least recently used went; the other two are still known (not all cleared)
    assert [verifier.expires_at(h) is not None for h in headers] == [False, True, True]
