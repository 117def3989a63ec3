"""Ticket hexagons: each ticket's H3 cells at resolutions 8 and 9, for the heat map.

PostGIS here has no H3 extension, so the cells are computed in Python at write time and
stored as bigint (an H3 index never sets the top bit, so it fits a signed 64-bit integer).
Existing rows are back-filled by this migration: ids and points are streamed out in keyset
batches, the cells COPYed into a temp table, and one UPDATE ... FROM applies them, which
keeps a million rows to a few tens of seconds instead of a million single-row UPDATEs.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from typing import Any

import h3.api.basic_int as h3
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 50_000

ADD_COLUMNS = """
ALTER TABLE tickets ADD COLUMN h3_9 bigint, ADD COLUMN h3_8 bigint
"""

# The heat map counts one created_at range per period, grouped by a cell key and filtered by
# item and status: created_at leads, the rest is included, so each period is an index-only
# scan (EXPLAIN on the demo: 0 heap fetches, where the older created_at index needs a bitmap
# heap scan, or a sequential scan for periods of months). The bbox becomes a list of cell
# keys, so no spatial index on the points is involved.
INDEX = """
CREATE INDEX ix_tickets_created_cells ON tickets (created_at)
    INCLUDE (cell_code, h3_8, h3_9, item_code, status)
"""

DOWNGRADE = """
DROP INDEX IF EXISTS ix_tickets_created_cells;
ALTER TABLE tickets DROP COLUMN IF EXISTS h3_8, DROP COLUMN IF EXISTS h3_9;
"""


def _dbapi() -> Any:
    # The psycopg 3 connection under SQLAlchemy: its cursor.copy() is what makes this fast.
    return op.get_bind().connection.dbapi_connection


def _backfill() -> None:
    conn = _dbapi()
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE ticket_hexagons (id bigint, h3_9 bigint, h3_8 bigint) "
                    "ON COMMIT DROP")
        last = 0
        while True:
            cur.execute(
                "SELECT id, ST_X(geom), ST_Y(geom) FROM tickets WHERE id > %s ORDER BY id LIMIT %s",
                (last, BATCH),
            )
            rows = cur.fetchall()
            if not rows:
                break
            with cur.copy("COPY ticket_hexagons (id, h3_9, h3_8) FROM STDIN") as copy:
                for ticket_id, lon, lat in rows:
                    # Not the 9's parent: H3 children do not nest exactly in it.
                    copy.write_row((ticket_id, h3.latlng_to_cell(lat, lon, 9),
                                    h3.latlng_to_cell(lat, lon, 8)))
            last = rows[-1][0]
        cur.execute("ANALYZE ticket_hexagons")
        cur.execute("UPDATE tickets t SET h3_9 = x.h3_9, h3_8 = x.h3_8 "
                    "FROM ticket_hexagons x WHERE t.id = x.id")


def upgrade() -> None:
    op.execute(ADD_COLUMNS)
    _backfill()
    op.execute(INDEX)


def downgrade() -> None:
    op.execute(DOWNGRADE)
