"""web/memo.py: answers kept for a while, one computation for concurrent misses."""

from __future__ import annotations

import asyncio

import pytest

from tests.web.test_tilecache import Clock
from web.memo import Memo


def test_concurrent_misses_compute_once_and_share_the_answer() -> None:
    calls = 0

    async def main() -> list[int]:
        memo: Memo[int] = Memo(60.0)
        release = asyncio.Event()

        async def compute() -> int:
            nonlocal calls
            calls += 1
            await release.wait()
            return 42

        waiting = [asyncio.ensure_future(memo.get("k", compute)) for _ in range(20)]
        await asyncio.sleep(0)  # every request has missed before the answer exists
        release.set()
        got = await asyncio.gather(*waiting)
        again = await memo.get("k", compute)
        return [*got, again]

    assert asyncio.run(main()) == [42] * 21
    assert calls == 1


def test_answers_expire_and_other_keys_compute_apart() -> None:
    clock = Clock()
    calls: list[str] = []

    async def main() -> None:
        memo: Memo[str] = Memo(60.0, clock=clock)

        def compute(key: str):  # type: ignore[no-untyped-def]
            async def run() -> str:
                calls.append(key)
                return key.upper()
            return run

        assert await memo.get("a", compute("a")) == "A"
        assert await memo.get("b", compute("b")) == "B"
        clock.now += 59.0
        assert await memo.get("a", compute("a")) == "A"
        clock.now += 1.0
        assert await memo.get("a", compute("a")) == "A"

    asyncio.run(main())
    assert calls == ["a", "b", "a"]


def test_a_failure_is_not_kept_and_a_cancelled_caller_does_not_cancel_the_others() -> None:
    async def main() -> None:
        memo: Memo[int] = Memo(60.0)

        async def fail() -> int:
            raise ValueError("no")

        with pytest.raises(ValueError):
            await memo.get("k", fail)
        release = asyncio.Event()

        async def slow() -> int:
            await release.wait()
            return 7

        first = asyncio.ensure_future(memo.get("k", slow))
        second = asyncio.ensure_future(memo.get("k", slow))
        await asyncio.sleep(0)
        first.cancel()
        release.set()
        assert await second == 7
        assert len(memo) == 1

    asyncio.run(main())


def test_the_oldest_answers_go_first_beyond_the_limit() -> None:
    async def main() -> None:
        memo: Memo[int] = Memo(60.0, max_entries=2)
        for key in (1, 2, 3):
            await memo.get(key, lambda key=key: asyncio.sleep(0, key))
        assert len(memo) == 2

    asyncio.run(main())
