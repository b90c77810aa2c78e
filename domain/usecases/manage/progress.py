"""Order progress (OS): staff move it ordered → received → deploying → completed, or cancel
it; the business owners are to be told (the result lists whom)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from domain.catalog import ServiceKind
from domain.errors import InvalidInput, PermissionDenied
from domain.model import (
    OrderProgress,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.ports import Clock, UnitOfWork
from domain.usecases.manage.common import UowFactory, _authorize, _event, _require
from domain.usecases.notices import locale_of

__all__ = [
    "PROGRESS_TRACK",
    "AdvanceProgress",
    "AdvanceProgressRequest",
    "ProgressChanged",
    "Recipient",
    "next_progress",
]


#: the order-progress track of an OS subscription, in order (CANCELLED is off the track)
PROGRESS_TRACK = (
    OrderProgress.ORDERED,
    OrderProgress.RECEIVED,
    OrderProgress.DEPLOYING,
    OrderProgress.COMPLETED,
)


def next_progress(current: OrderProgress | None) -> OrderProgress | None:
    """The step after ``current`` on the track; None at the end or off the track."""
    if current is None or current not in PROGRESS_TRACK:
        return None
    i = PROGRESS_TRACK.index(current)
    return PROGRESS_TRACK[i + 1] if i + 1 < len(PROGRESS_TRACK) else None


@dataclass(frozen=True, slots=True)
class AdvanceProgressRequest:
    actor_id: int
    subscription_id: int
    #: the next step on the track, or CANCELLED
    to: OrderProgress


@dataclass(frozen=True, slots=True)
class Recipient:
    """A chat to tell (a Telegram user id is its private chat id) and its language."""

    chat_id: int
    locale: str


@dataclass(frozen=True, slots=True)
class ProgressChanged:
    subscription: Subscription
    previous: OrderProgress | None
    #: the business owners to tell (the actor excluded)
    notify: tuple[Recipient, ...] = ()
    changed: bool = True


class AdvanceProgress:
    """Staff move an OS order one step along the track, or cancel it (not once completed).

    Only the next step is accepted (a repeated press finds it already there and changes
    nothing), so two agents pressing at once cannot skip a step. Cancelling also cancels the
    subscription. The business owners are returned to be told."""

    def __init__(self, uow: UowFactory, clock: Clock, default_locale: str = "vi") -> None:
        self._uow = uow
        self._clock = clock
        self._default_locale = default_locale

    async def __call__(self, req: AdvanceProgressRequest) -> ProgressChanged:
        now = self._clock.now()
        async with self._uow() as uow:
            _, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_progress, "only agents and admins move the order progress")
            subscription = await uow.subscriptions.get(
                SubscriptionId(req.subscription_id), for_update=True
            )
            if subscription is None:
                raise PermissionDenied("subscription not visible")
            if subscription.kind is not ServiceKind.OS:
                raise InvalidInput("progress is for OS orders", reason="progress.not_os")
            previous = subscription.progress
            if previous == req.to:
                return ProgressChanged(subscription, previous, changed=False)
            allowed = _allowed_moves(previous)
            if req.to not in allowed:
                raise InvalidInput("not the next step", reason="progress.step")
            updated = replace(subscription, progress=req.to)
            if req.to is OrderProgress.CANCELLED:
                updated = replace(updated, status=SubscriptionStatus.CANCELLED)
            await uow.subscriptions.update(updated)
            await uow.history.add(
                _event(
                    "progress.changed",
                    updated,
                    rights.user_id,
                    now,
                    {"from": previous.value if previous else "", "to": req.to.value},
                )
            )
            notify = await self._owners(uow, updated, rights.user_id)
            params: dict[str, JsonValue] = {
                "subscription": updated.code,
                "service": updated.service_code,
                "progress": req.to.value,
            }
            for recipient in notify:
                await uow.outbox.add(
                    Notice(
                        NoticeKind.PROGRESS_CHANGED, recipient.chat_id, recipient.locale, params
                    ),
                    now,
                )
            await uow.commit()
        return ProgressChanged(updated, previous, notify)

    async def _owners(
        self, uow: UnitOfWork, subscription: Subscription, actor: UserId
    ) -> tuple[Recipient, ...]:
        members = await uow.memberships.for_enterprise(subscription.enterprise_id)
        owners = [m.user_id for m in members if m.role is Role.OWNER and m.user_id != actor]
        users = await uow.users.get_many(owners) if owners else {}
        return tuple(
            Recipient(int(o), locale_of(users[o]) or self._default_locale)
            for o in dict.fromkeys(owners)
            if o in users and users[o].reachable
        )


def _allowed_moves(current: OrderProgress | None) -> Collection[OrderProgress]:
    if current in (OrderProgress.COMPLETED, OrderProgress.CANCELLED):
        return ()
    following = next_progress(current)
    return (OrderProgress.CANCELLED,) if following is None else (following, OrderProgress.CANCELLED)
