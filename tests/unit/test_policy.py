"""The authorization policy, as a table written out by hand."""

from __future__ import annotations

import pytest

from domain.policy import Permission, Relation, Standing, may

P = Permission
OWNER = Standing(relation=Relation.OWNER)
MEMBER = Standing(relation=Relation.MEMBER)
STRANGER = Standing()
AGENT = Standing(is_agent=True)
ADMIN = Standing(is_admin=True)
AGENT_MEMBER = Standing(relation=Relation.MEMBER, is_agent=True)

EXPECTED: dict[Permission, set[str]] = {
    P.VIEW: {"owner", "member", "agent", "admin", "agent_member"},
    P.REGISTER: {"owner", "agent", "admin", "agent_member"},
    P.MANAGE_ACCOUNT: {"owner", "agent", "admin", "agent_member"},
    P.MANAGE_EMPLOYEES: {"owner", "agent", "admin", "agent_member"},
    P.NOTE: {"owner", "agent", "admin", "agent_member"},
    P.MEMO: {"agent", "admin", "agent_member"},
    P.PROGRESS: {"agent", "admin", "agent_member"},
    P.CONFIRM_CASH: {"agent", "admin", "agent_member"},
    P.CREATE_BUSINESS: {"agent", "admin", "agent_member"},
    P.FIND_BUSINESS: {"agent", "admin", "agent_member"},
    P.INVITE_OWNER: {"agent", "admin", "agent_member"},
    P.GRANT: {"admin"},
    P.RENEW: {"owner", "agent", "admin", "agent_member"},
    P.CANCEL_NOW: {"agent", "admin", "agent_member"},
    P.REFUND: {"agent", "admin", "agent_member"},
}
WHO = {
    "owner": OWNER,
    "member": MEMBER,
    "stranger": STRANGER,
    "agent": AGENT,
    "admin": ADMIN,
    "agent_member": AGENT_MEMBER,
}


def test_every_permission_is_in_the_table() -> None:
    assert set(EXPECTED) == set(Permission)


@pytest.mark.parametrize("permission", list(Permission))
@pytest.mark.parametrize("who", list(WHO))
def test_policy_table(who: str, permission: Permission) -> None:
    assert may(WHO[who], permission) is (who in EXPECTED[permission])
