"""Values and helpers shared by the account use cases: who writes to the bot, whom to tell,
how a business is shown, and the history, refusal and notice plumbing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from domain.model import Enterprise, EnterpriseId, HistoryEvent, Role, User, UserId
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.ports import UnitOfWork
from domain.usecases.notices import locale_of

__all__ = [
    "BusinessView",
    "Person",
    "Recipient",
    "uses_bot",
]

#: one logger for the whole package (the name the module had before it was split)
log = logging.getLogger("domain.usecases.accounts")


# ---------------------------------------------------------------------------------------------
# Values shared by the use cases


@dataclass(frozen=True, slots=True)
class Person:
    """Who writes to the bot, as Telegram tells it (the roles come from the database)."""

    user_id: int
    first_name: str
    username: str | None = None
    #: the language the user sees the bot in (stored, so messages sent to them later use it)
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone to tell something: their private chat (= their Telegram id) and language."""

    chat_id: int
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class BusinessView:
    id: int
    name: str
    tax_code: str

    @classmethod
    def of(cls, enterprise: Enterprise) -> BusinessView:
        return cls(int(enterprise.id), enterprise.name, enterprise.tax_code)


def uses_bot(user: User | None) -> bool:
    """True when the bot may message the user: they wrote to it (any update records that) and
    Telegram has not refused a message to them since (see :attr:`User.reachable`)."""
    return user is not None and user.reachable


def _recipient(user: User) -> Recipient:
    return Recipient(int(user.id), locale_of(user) or None)


def _notice(kind: NoticeKind, to: Recipient, params: dict[str, JsonValue]) -> Notice:
    return Notice(kind, to.chat_id, to.locale or "", params)


def _business_params(business: BusinessView) -> dict[str, JsonValue]:
    return {"business": business.name, "tax_code": business.tax_code}


def _profile(person: Person, now: datetime, phone: str | None = None) -> User:
    return User(
        id=UserId(person.user_id),
        first_name=person.first_name.strip()[:255] or str(person.user_id),
        username=person.username,
        phone=phone,
        locale=person.locale,
        created_at=now,
        chat_seen_at=now,  # only the person's own updates reach these use cases
    )


async def _owners(uow: UnitOfWork, enterprise_id: EnterpriseId) -> tuple[Recipient, ...]:
    """The business's owners who use the bot, in a stable order."""
    members = await uow.memberships.for_enterprise(enterprise_id)
    ids = [m.user_id for m in members if m.role is Role.OWNER]
    if not ids:
        return ()
    users = await uow.users.get_many(ids)
    return tuple(_recipient(users[i]) for i in ids if uses_bot(users.get(i)))


async def _refuse(
    uow: UnitOfWork,
    now: datetime,
    actor_id: int,
    what: str,
    reason: str,
    **details: object,
) -> None:
    """Record and log a refused request, then commit (the refusal is the only change)."""
    log.warning("refused %s for user %s: %s %s", what, actor_id, reason, details or "")
    await uow.history.add(
        HistoryEvent(
            action="access.refused",
            created_at=now,
            actor_id=UserId(actor_id),
            details={"what": what, "reason": reason, **details},
        )
    )
    await uow.commit()


def _event(
    action: str,
    now: datetime,
    actor_id: int | None,
    enterprise_id: EnterpriseId | None = None,
    **details: object,
) -> HistoryEvent:
    return HistoryEvent(
        action=action,
        created_at=now,
        enterprise_id=enterprise_id,
        actor_id=UserId(actor_id) if actor_id is not None else None,
        details=dict(details),
    )
