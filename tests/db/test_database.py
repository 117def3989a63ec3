"""The runtime pool: autocommit reads, session settings on every connection."""

from __future__ import annotations

from db.database import Database
from db.queries.tiles import TILE_SESSION


async def test_session_settings_hold_on_every_connection(conninfo: str) -> None:
    db = Database(conninfo, min_size=2, max_size=2, statement_timeout_ms=1234,
                  session=TILE_SESSION)
    await db.open()
    try:
        async with db.connection() as first, db.connection() as second:
            for conn in (first, second):
                mode = await (await conn.execute("SHOW plan_cache_mode")).fetchone()
                timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
                assert mode is not None and mode[0] == "force_generic_plan"
                assert timeout is not None and timeout[0] == "1234ms"
    finally:
        await db.close()
