"""Who may do what: the one authorization policy of the product.

Every check — in the use cases, the conversations and the bot — asks :func:`may` with the
actor's :class:`Standing` towards one business. Owners act for their business; members only
look; support agents and admins act for any business; only admins grant global roles.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Permission(enum.StrEnum):
    VIEW = "view"  # see a business's subscriptions, invoices, history
    REGISTER = "register"  # register and pay for a service for the business
    MANAGE_ACCOUNT = "manage_account"  # invitations and join requests of the business
    MANAGE_EMPLOYEES = "manage_employees"  # a subscription's employee list
    NOTE = "note"  # write a note on a subscription
    MEMO = "memo"  # credit and debit memos, and their status
    PROGRESS = "progress"  # move an OS order through its progress steps
    CONFIRM_CASH = "confirm_cash"  # record that cash was received
    CREATE_BUSINESS = "create_business"  # create a business on someone's behalf
    FIND_BUSINESS = "find_business"  # search every business by tax code or name
    INVITE_OWNER = "invite_owner"  # invite an owner into a business (its first one)
    GRANT = "grant"  # grant agent/admin roles
    RENEW = "renew"  # renew a subscription, cancel it at its period end, or resume it
    CANCEL_NOW = "cancel_now"  # end a subscription at once, with a reason
    REFUND = "refund"  # record that an amount due for refund was given back


class Relation(enum.StrEnum):
    """The actor's role inside the one business concerned (none when not a member)."""

    OWNER = "owner"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Standing:
    """What the actor is towards one business: their role in it and their global roles."""

    relation: Relation | None = None
    is_agent: bool = False
    is_admin: bool = False

    @property
    def is_staff(self) -> bool:
        return self.is_agent or self.is_admin


_OWNER: frozenset[Permission] = frozenset(
    {
        Permission.VIEW,
        Permission.REGISTER,
        Permission.MANAGE_ACCOUNT,
        Permission.MANAGE_EMPLOYEES,
        Permission.NOTE,
        Permission.RENEW,
    }
)
_MEMBER: frozenset[Permission] = frozenset({Permission.VIEW})
_STAFF: frozenset[Permission] = frozenset(Permission) - {Permission.GRANT}


def permissions(standing: Standing) -> frozenset[Permission]:
    granted: set[Permission] = set()
    if standing.relation is Relation.OWNER:
        granted |= _OWNER
    elif standing.relation is Relation.MEMBER:
        granted |= _MEMBER
    if standing.is_staff:
        granted |= _STAFF
    if standing.is_admin:
        granted.add(Permission.GRANT)
    return frozenset(granted)


def may(standing: Standing, permission: Permission) -> bool:
    return permission in permissions(standing)
