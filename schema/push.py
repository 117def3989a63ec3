"""Web Push subscriptions 推送订阅: thin fields over `resolvers/push.py`."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from resolvers import push
from resolvers.errors import DomainError
from schema.notices import USER_ERRORS
from schema.types import UserError, user_errors


@strawberry.type(description="A phone's push subscription, tied to the caller and their scope.")
class PushSubscription:
    endpoint: str
    scopes: list[str] = strawberry.field(description="All the scope codes the caller's token "
                                                     "named when it subscribed: tickets there "
                                                     "are pushed.")
    renewed_at: datetime


@strawberry.type
class PushSubscriptionPayload:
    subscription: PushSubscription | None
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class UnsubscribePushPayload:
    removed: bool = strawberry.field(description="Whether the caller had a subscription there.")
    errors: list[UserError] = strawberry.field(description=USER_ERRORS)


@strawberry.type
class PushMutation:
    @strawberry.mutation(description="Subscribes this phone's browser to push notifications about "
                                     "the caller's tickets (dispatched, due soon, escalated), "
                                     "with its PushSubscription's endpoint and keys (base64url). "
                                     "For grid workers, supervisors and community staff; "
                                     "subscribing again renews it. PUSH_NOT_CONFIGURED when the "
                                     "server has no VAPID key, PUSH_ENDPOINT_REFUSED for an "
                                     "endpoint that is not https (production) or not public.")
    async def subscribe_push(self, info: Info, endpoint: str, p256dh: str,
                             auth: str) -> PushSubscriptionPayload:
        try:
            done = await push.subscribe_push(info.context.db, info.context.actor,
                                             info.context.push, endpoint=endpoint,
                                             p256dh=p256dh, auth=auth)
        except DomainError as err:
            return PushSubscriptionPayload(subscription=None, errors=user_errors(err))
        return PushSubscriptionPayload(subscription=PushSubscription(
            endpoint=done.endpoint, scopes=list(done.scopes), renewed_at=done.renewed_at),
            errors=[])

    @strawberry.mutation(description="Removes the caller's push subscription at `endpoint`.")
    async def unsubscribe_push(self, info: Info, endpoint: str) -> UnsubscribePushPayload:
        try:
            removed = await push.unsubscribe_push(info.context.db, info.context.actor,
                                                  endpoint=endpoint)
        except DomainError as err:
            return UnsubscribePushPayload(removed=False, errors=user_errors(err))
        return UnsubscribePushPayload(removed=removed, errors=[])
