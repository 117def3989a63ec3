"""Rate-limit buckets shared by a server's worker processes (web/shared_buckets.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from web.guard import TokenBuckets
from web.shared_buckets import SharedTokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_shared_bucket_grants_and_refills_as_a_process_own(tmp_path: Path) -> None:
    clock = Clock()
    shared = SharedTokenBuckets(tmp_path / "b.bin", 2.0, 3, clock=clock)
    own = TokenBuckets(2.0, 3, clock=clock)
    for step in (0.0, 0.0, 0.0, 0.0, 0.2, 0.5, 0.0, 3.0, 0.0, 0.0):
        clock.now += step
        for key in ("a", "b"):
            assert shared.take(key) == own.take(key), (step, key)
    assert shared.take("a") > 0  # drained: a wait, not a grant
    shared.close()


def test_two_processes_share_one_budget(tmp_path: Path) -> None:
    """Each of two processes asks 10 times for one caller with a burst of 7: 7 granted."""
    path = tmp_path / "b.bin"
    script = ("import sys\nfrom pathlib import Path\n"
              "from web.shared_buckets import SharedTokenBuckets\n"
              "b = SharedTokenBuckets(Path(sys.argv[1]), 0.0001, 7)\n"
              "print(sum(b.take('GRID_WORKER:w1') == 0 for _ in range(10)))\n")
    root = Path(__file__).resolve().parents[2]
    runs = [subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=root,
                             stdout=subprocess.PIPE, text=True) for _ in range(2)]
    granted = [int(run.communicate(timeout=60)[0]) for run in runs]
    assert sum(granted) == 7, granted
    again = SharedTokenBuckets(path, 0.0001, 7)
    assert again.take("GRID_WORKER:w1") > 0 and again.take("GRID_WORKER:w2") == 0
    again.close()


def test_many_callers_keep_their_own_buckets(tmp_path: Path) -> None:
    clock = Clock()
    buckets = SharedTokenBuckets(tmp_path / "b.bin", 0.01, 1, max_clients=100, clock=clock)
    keys = [f"ip:10.0.{i // 250}.{i % 250}" for i in range(100)]
    assert all(buckets.take(k) == 0 for k in keys)  # one each
    assert all(buckets.take(k) > 0 for k in keys)  # and no more: each found its own again
    clock.now += 100.0  # idle long enough to be full again: their slots may be reused
    assert all(buckets.take(f"new:{i}") == 0 for i in range(100))
    assert all(buckets.take(k) == 0 for k in keys)
    buckets.close()

