"""Which reads a hot standby serves: tiles, and GraphQL queries over places, map layers and
analytics; ticket reads and everything that writes stay on the primary, so a caller always
reads the tickets it has just written.

The replica is `REDGRID_REPLICA_URL`, or the embedded one `redgrid db up --replica` made;
`db/replica.py` watches its lag and falls back to the primary (see there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

from graphql import FieldNode, OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from db.database import Database
from db.queries.tiles import TILE_SESSION
from db.replica import ReadRoute, Replica
from db.urls import psycopg_conninfo
from web.settings import Settings

# Root query fields whose answers may lag the primary by up to REDGRID_REPLICA_MAX_LAG.
REPLICA_FIELDS = frozenset({
    "__typename", "zones", "zone", "communities", "community", "compounds", "compound",
    "gridCells", "gridCell", "facilities", "facility", "locate", "layer", "heatmap",
    "compoundMonthlyTickets", "propertyRanking", "unitRatings",
    "coverage", "suggestSites", "whatIf", "marketGroups", "areaStats",
})


async def open_replica(settings: Settings, db: Database, tile_db: Database) -> Replica | None:
    """The replica's pools and health check, when one is configured."""
    if not settings.replica_url:
        return None
    replica = Replica(psycopg_conninfo(settings.replica_url), db, tile_db,
                      max_lag_s=settings.replica_max_lag_s, pool_size=settings.pool_size,
                      statement_timeout_ms=settings.statement_timeout_ms,
                      tile_session=TILE_SESSION)
    await replica.open()
    return replica


def _root_fields(document: object, operation_name: str | None) -> set[str] | None:
    """The root field names of the operation run, or None where fragments hide them."""
    operations = [d for d in getattr(document, "definitions", ())
                  if isinstance(d, OperationDefinitionNode)
                  and (operation_name is None or (d.name and d.name.value == operation_name))]
    if len(operations) != 1:
        return None
    names = set()
    for selection in operations[0].selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None
        names.add(selection.name.value)
    return names


class ReplicaReads(SchemaExtension):
    """Runs an HTTP query whose root fields are all in REPLICA_FIELDS on the replica's route."""

    def __init__(self, route: Callable[[], ReadRoute | None]) -> None:
        self.route = route

    def on_execute(self) -> Iterator[None]:
        route = self.route()
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if (route is not None and getattr(request, "scope", {}).get("type") == "http"
                and context.operation_type is OperationType.QUERY):
            fields = _root_fields(context.graphql_document, context.operation_name)
            if fields and fields <= REPLICA_FIELDS:
                # A ReadRoute answers what resolvers ask of a Database: connection() from the
                # replica, transaction() and the rest from the primary.
                context.context.db = cast(Database, route)
        yield
