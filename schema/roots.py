"""The Query, Mutation and Subscription roots, merged from one class per area."""

from __future__ import annotations

from strawberry.tools import merge_types

from schema.places import PlaceQuery
from schema.ticket_create import TicketCreateMutation

QUERIES: tuple[type, ...] = (
    PlaceQuery,
)
MUTATIONS: tuple[type, ...] = (
    TicketCreateMutation,
)
SUBSCRIPTIONS: tuple[type, ...] = ()

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)
Subscription = merge_types("Subscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
