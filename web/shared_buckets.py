"""Token buckets shared by the worker processes of one server, in a memory-mapped file.

With `redgrid serve --workers N` every worker used to keep its own buckets, so a caller could
make N times its budget. `SharedTokenBuckets` keeps one bucket per caller for all the workers
of a server: a fixed open-addressing table in a file of the server's own temporary folder
(`serve` makes it and hands it to the workers), each `take` under an exclusive `flock` of that
file. CLOCK_MONOTONIC is the same clock in every process, so the time of a bucket's last take
means the same to each worker.

A slot holds a caller's key hash (8 bytes of BLAKE2b; 0 marks an empty slot), its tokens and
the time of its last take. A caller's slot lies at most PROBES slots after its home slot. A
bucket idle for `burst / rate` seconds is full again, the same as no bucket, so its slot may be
taken by another caller; when every probed slot is busy, the least recently used one goes (as
`TokenBuckets` drops its least recently used past `max_clients`).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

# The folder of state the workers of one server share, made by `serve` for its workers only.
SHARED_ENV = "REDGRID_SHARED_STATE_DIR"
_SLOT = struct.Struct("<Qdd")  # key hash, tokens, time of the last take
PROBES = 64


def spend(tokens: float, elapsed: float, rate: float, burst: int) -> tuple[float, float]:
    """A bucket of `tokens`, refilled for `elapsed` seconds, after one take: its tokens and
    the wait (0 if the take was granted, else the seconds until a token is due)."""
    tokens = min(float(burst), tokens + elapsed * rate)
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) / rate


class SharedTokenBuckets:
    """`TokenBuckets` (web/guard.py) kept in the file `path` for every process that opens it
    with the same rate and burst."""

    def __init__(self, path: Path, rate: float, burst: int, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        # A table about three times the callers it holds keeps the probe runs short.
        self.slots = max(PROBES, 1 << (max_clients * 3 - 1).bit_length())
        size = self.slots * _SLOT.size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)  # zeros: every slot empty
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, size)

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def take(self, key: str) -> float:
        """Takes one token for `key`: 0 if granted, else the seconds until one is due."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
        digest = digest or 1  # 0 marks an empty slot
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            now = self.clock()
            offset, tokens, at = self._slot(digest, now)
            tokens, wait = spend(tokens, now - at, self.rate, self.burst)
            _SLOT.pack_into(self._map, offset, digest, tokens, now)
            return wait
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _slot(self, digest: int, now: float) -> tuple[int, float, float]:
        """The caller's slot (offset, tokens, at); a new caller's starts full."""
        idle = self.burst / self.rate
        home = digest % self.slots
        free: int | None = None
        oldest, oldest_at = home * _SLOT.size, float("inf")
        for i in range(PROBES):
            offset = ((home + i) % self.slots) * _SLOT.size
            held, tokens, at = _SLOT.unpack_from(self._map, offset)
            if held == digest:
                return offset, tokens, at
            if free is None and (held == 0 or now - at >= idle):
                free = offset
            if held == 0:
                break  # never taken: the caller is not further on
            if at < oldest_at:
                oldest, oldest_at = offset, at
        return (oldest if free is None else free), float(self.burst), now
