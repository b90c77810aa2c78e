"""Accounts in the chat: sign-up at ``/start``, joining a business, invitations, grants, and
the business a staff member acts for.

Flows (the engine starts them by name; see :data:`COMMANDS` and :data:`ENTRIES`):

- ``start`` (``/start`` and ``/start inv_<token>``, :mod:`.signup`): a known user gets the main
  menu; a deep link with an invitation joins its business; a new user signs up.
- ``join`` (entry button ``jr``, arg ``a<id>``/``r<id>``, :mod:`.decisions`): an owner's
  **Chấp nhận** / **Từ chối** on a join request. Entry buttons can be forged, so the use case
  decides who may.
- ``invite`` (``/invite``, :mod:`.invite`): an owner invites an employee (picked in Telegram,
  or through a link); a staff member picks or creates a business and invites its first owner
  (or an employee).
- ``grant`` (``/grant TELEGRAM_ID ROLE [TAX_CODE]``, :mod:`.decisions`): an admin grants a role.

:class:`StaffBusinessPicker` (:mod:`.picker`) is the business step of a staff member's
registration (and of their invitations). :class:`AgentOrderNotice` tells a business's owners
when a staff member registered for it and offers the staff member to confirm the cash.

Permissions are never decided here: each call of :class:`AccountsServices` runs a use case
that checks them. The drafts are typed (:mod:`.draft`).
"""

from conversations.accounts.common import (
    COMMANDS,
    ENTRIES,
    GRANT_FLOW,
    INVITE_FLOW,
    INVITE_PREFIX,
    JOIN_ACTION,
    JOIN_FLOW,
    START_FLOW,
    AccountAction,
    AccountsServices,
    InvitationLink,
    invite_link,
)
from conversations.accounts.decisions import AgentOrderNotice, GrantFlow, JoinDecisionFlow
from conversations.accounts.draft import InviteDraft, PickerDraft, PickStep
from conversations.accounts.invite import InviteFlow, InviteStep, invitation_screen
from conversations.accounts.picker import StaffBusinessPicker
from conversations.accounts.signup import SignUpStep, StartFlow
from conversations.flow import Flow


def account_flows(services: AccountsServices) -> dict[str, Flow]:
    """The flows of this package by name, for the engine's ``flows``."""
    return {
        START_FLOW: StartFlow(services),
        JOIN_FLOW: JoinDecisionFlow(services),
        INVITE_FLOW: InviteFlow(services),
        GRANT_FLOW: GrantFlow(services),
    }


__all__ = [
    "COMMANDS",
    "ENTRIES",
    "GRANT_FLOW",
    "INVITE_FLOW",
    "INVITE_PREFIX",
    "JOIN_ACTION",
    "JOIN_FLOW",
    "START_FLOW",
    "AccountAction",
    "AccountsServices",
    "AgentOrderNotice",
    "GrantFlow",
    "InvitationLink",
    "InviteDraft",
    "InviteFlow",
    "InviteStep",
    "JoinDecisionFlow",
    "PickStep",
    "PickerDraft",
    "SignUpStep",
    "StaffBusinessPicker",
    "StartFlow",
    "account_flows",
    "invitation_screen",
    "invite_link",
]
