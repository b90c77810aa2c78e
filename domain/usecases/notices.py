"""The notices the use cases write to the outbox (``domain.outbox``), built from their results.

Each builder returns the notices of one state change; the use case adds them through its unit
of work before its single commit. Params are plain JSON (dates ISO 8601, money int đồng); an
empty ``locale`` means "the bot's default language" (the bot fills it in when rendering).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from domain.model import EnterpriseId, Order, PaymentMethod, Role, User, UserId
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.ports import UnitOfWork

if TYPE_CHECKING:
    from domain.usecases.payments import OrderExpired, PaymentConfirmed, PaymentFailed

__all__ = [
    "add_notices",
    "agent_registered",
    "locale_of",
    "order_expired",
    "payment_failed",
    "payment_succeeded",
    "reachable_owners",
]

_LANGUAGES = ("vi", "en")


def locale_of(user: User | None) -> str:
    """The language to write to ``user`` in: the one they chose, else Telegram's when we speak
    it, else "" (the bot's default)."""
    if user is None:
        return ""
    if user.locale:
        return user.locale
    code = (user.language_code or "").split("-")[0].lower()
    return code if code in _LANGUAGES else ""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def add_notices(uow: UnitOfWork, notices: Iterable[Notice], now: datetime) -> int:
    count = 0
    for notice in notices:
        await uow.outbox.add(notice, now)
        count += 1
    return count


def payment_succeeded(result: PaymentConfirmed) -> list[Notice]:
    """**Đăng ký thành công** (for a CHANGE order: what changed, ``CHANGE_PAID``) to the
    order's chat then the business owners, each once; for cash not to the staff member who
    confirmed it (they see the result of their own command)."""
    chats = result.chat_ids
    if result.method is PaymentMethod.BY_CASH and result.actor_id is not None:
        chats = tuple(chat for chat in chats if chat != result.actor_id)
    if result.refund_due:
        return _refund_due(result, chats)
    params: dict[str, JsonValue] = {
        "order": result.order_code,
        "subscription": result.subscription_code,
        "total": result.total,
        "invoice": result.invoice_number,
        "method": result.method.value if result.method is not None else "",
        "period_start": _iso(result.period_start),
        "period_end": _iso(result.period_end),
    }
    if result.purpose == "RENEWAL":  # "Gia hạn thành công"
        params["purpose"] = result.purpose
    kind = NoticeKind.PAYMENT_SUCCEEDED
    if result.change is not None:  # Đổi gói or a trial paid: what changed, not "Đăng ký"
        kind = NoticeKind.CHANGE_PAID
        params.update(result.change)
    return [Notice(kind, chat, result.locale, params) for chat in chats]


def _refund_due(result: PaymentConfirmed, chats: tuple[int, ...]) -> list[Notice]:
    """Money came in for a subscription that could not take it: the order's chat and the
    owners (``audience=owner``), then the staff member who ended the subscription, else the
    admins (``audience=staff``; not the one who confirmed the cash: they see it in their reply), are
    told that nothing was renewed or changed and that the amount is due for refund."""
    params: dict[str, JsonValue] = {
        "order": result.order_code,
        "subscription": result.subscription_code,
        "total": result.total,
        "purpose": result.purpose,
        "status": result.subscription_status,
        "method": result.method.value if result.method is not None else "",
    }
    told = [
        Notice(NoticeKind.PAYMENT_REFUND_DUE, chat, result.locale, {**params, "audience": "owner"})
        for chat in chats
    ]
    for staff, locale in result.staff_chat_ids:
        if staff not in chats and staff != result.actor_id:
            told.append(
                Notice(
                    NoticeKind.PAYMENT_REFUND_DUE, staff, locale, {**params, "audience": "staff"}
                )
            )
    return told


def payment_failed(result: PaymentFailed) -> list[Notice]:
    """A new failure of an order that still waits for payment, to the order's chat."""
    if result.chat_id is None or not result.should_notify:
        return []
    params: dict[str, JsonValue] = {
        "order": result.order_code,
        "total": result.total,
        "code": result.response_code,
        "cancelled": result.cancelled,
        "can_retry": result.can_retry,
    }
    return [Notice(NoticeKind.PAYMENT_FAILED, result.chat_id, result.locale, params)]


def order_expired(result: OrderExpired) -> list[Notice]:
    if result.chat_id is None:
        return []
    params: dict[str, JsonValue] = {"order": result.order_code, "total": result.total}
    if result.subscription_code:  # a CHANGE or RENEWAL order: its subscription is unchanged
        params["subscription"] = result.subscription_code
        params["purpose"] = result.purpose
    return [Notice(NoticeKind.ORDER_EXPIRED, result.chat_id, result.locale, params)]


async def reachable_owners(
    uow: UnitOfWork, enterprise_id: EnterpriseId, exclude: Iterable[int] = ()
) -> list[tuple[int, str]]:
    """The business's owners the bot may write to (chat id, language), in a stable order."""
    skip = set(exclude)
    members = await uow.memberships.for_enterprise(enterprise_id)
    ids = [m.user_id for m in members if m.role is Role.OWNER and int(m.user_id) not in skip]
    users = await uow.users.get_many(ids) if ids else {}
    return [
        (int(i), locale_of(users[i]))
        for i in dict.fromkeys(ids)
        if i in users and users[i].reachable
    ]


async def agent_registered(
    uow: UnitOfWork, order: Order, now: datetime, payment_url: str = "", *, subscription: str = ""
) -> int:
    """Staff registered ``order`` for a business they do not own: its owners get what the
    staff member got (the payment link, or the pending cash order). The number told."""
    agent = await uow.users.get(UserId(order.registered_by))
    enterprise = await uow.enterprises.get(order.enterprise_id)
    if enterprise is None:
        return 0
    params: dict[str, JsonValue] = {
        "agent": agent.first_name if agent is not None else "",
        "service": order.service_code,
        "business": enterprise.name,
        "tax_code": enterprise.tax_code,
        "order": order.code,
        "kind": order.kind.value,
        "total": order.total,
        "url": payment_url,
        "subscription": subscription,
    }
    return await add_notices(
        uow,
        (
            Notice(NoticeKind.AGENT_REGISTERED, chat, locale, params)
            for chat, locale in await reachable_owners(
                uow, order.enterprise_id, exclude=(int(order.registered_by),)
            )
        ),
        now,
    )
