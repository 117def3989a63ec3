"""The Query, Mutation and Subscription roots, merged from one class per area."""

from __future__ import annotations

from strawberry.tools import merge_types

from schema.assessment import AssessmentQuery
from schema.cadres import CadreQuery
from schema.catalogue import CatalogueQuery
from schema.committees import CommitteeMutation, CommitteeQuery
from schema.community_life import CommunityLifeMutation, CommunityLifeQuery
from schema.heatmap import HeatmapQuery
from schema.layers import LayerQuery
from schema.patrols import PatrolMutation, PatrolQuery
from schema.performance import PerformanceMutation, PerformanceQuery
from schema.personal_data import AccessLogQuery
from schema.places import PlaceQuery
from schema.planning import PlanningQuery
from schema.push import PushMutation
from schema.subscriptions import LiveSubscription, NotificationMutation, NotificationQuery
from schema.ticket_create import TicketCreateMutation
from schema.volunteers import VolunteerMutation, VolunteerQuery
from schema.workflow import WorkflowMutation, WorkflowQuery

QUERIES: tuple[type, ...] = (
    PlaceQuery,
    VolunteerQuery,
    PerformanceQuery,
    WorkflowQuery,
    NotificationQuery,
    AccessLogQuery,
    LayerQuery,
    HeatmapQuery,
    PlanningQuery,
    CommunityLifeQuery,
    CadreQuery,
    AssessmentQuery,
    PatrolQuery,
    CatalogueQuery,
    CommitteeQuery,
)
MUTATIONS: tuple[type, ...] = (
    TicketCreateMutation,
    VolunteerMutation,
    PerformanceMutation,
    WorkflowMutation,
    NotificationMutation,
    CommunityLifeMutation,
    PatrolMutation,
    CommitteeMutation,
    PushMutation,
)
SUBSCRIPTIONS: tuple[type, ...] = (
    LiveSubscription,
)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)
Subscription = merge_types("Subscription", SUBSCRIPTIONS) if SUBSCRIPTIONS else None
