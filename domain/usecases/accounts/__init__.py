"""Accounts: who a Telegram user is to the business, and how they become it.

Use cases (one callable each, one transaction, commit once):

- :class:`Greet` — ``/start``: store the user's Telegram profile and say where they stand.
- :class:`FindBusinessByTaxCode` — the sign-up's tax-code step: does the business exist?
- :class:`SignUp` — a new user creates their business and becomes its **owner**.
- :class:`RequestToJoin` / :class:`DecideJoinRequest` — a user asks to join an existing business;
  one of its owners (or staff) accepts (the user becomes a **member**) or refuses.
- :class:`CreateInvitation` / :class:`AcceptInvitation` — a one-time, expiring invitation for a
  role in one business.
- :class:`SearchBusinesses` / :class:`CreateBusiness` / :class:`OpenBusiness` — staff pick or
  create the business they act for.
- :class:`BusinessRecipients` — the owners of a business who use the bot (to tell them things).
- :class:`GrantRoleByAdmin` — ``/grant`` in the chat, for admins.

By module: :mod:`.signup` (``/start``, the tax-code lookup, sign-up), :mod:`.joining` (join
requests and their decisions), :mod:`.invitations`, :mod:`.staff` (finding and creating the
business staff act for; ``/grant``), :mod:`.recipients` (a business's owners to tell), and
:mod:`.common` (the values and helpers they share). Every public name is re-exported here.

Invariants:

- Permissions are decided here, from the stored roles, never from what a button claims.
  owner: register, pay, manage and invite for their business; member: view; agent: act for any
  business, create businesses, invite a business's first owner; admin: all of that and grants.
- A request naming an object the actor may not touch is answered exactly like one naming an
  object that does not exist (:class:`NotFound`), is logged, and is recorded as an
  ``access.refused`` history event; nothing about the object is revealed.
- Grants, invitations, joins, staff actions and refusals are history events (who, what, when).
- A user "uses the bot" (may be messaged) once they wrote to it — any update records it — and
  until Telegram refuses a message to them (403: they blocked the bot); users created only by
  id (``users grant``) are not messaged before they write, since Telegram refuses messages to
  people who never opened the chat.
- What the bot owes other people (join requests to owners, answers to requesters, the inviter
  told) is written to the outbox in the transaction of the change that causes it.
"""

from domain.usecases.accounts.common import BusinessView, Person, Recipient, uses_bot
from domain.usecases.accounts.invitations import (
    INVITATION_TTL,
    AcceptInvitation,
    AcceptInvitationRequest,
    CreateInvitation,
    CreateInvitationRequest,
    InvitationCreated,
    InvitationOutcome,
    InvitationStatus,
    may_invite,
)
from domain.usecases.accounts.joining import (
    DecideJoinRequest,
    DecideJoinRequestRequest,
    JoinDecision,
    JoinDecisionStatus,
    JoinRequested,
    JoinStatus,
    RequestToJoin,
    RequestToJoinRequest,
)
from domain.usecases.accounts.recipients import BusinessRecipients, Recipients
from domain.usecases.accounts.signup import (
    FindBusinessByTaxCode,
    Greet,
    Greeting,
    SignUp,
    SignUpRequest,
    SignUpResult,
    SignUpStatus,
)
from domain.usecases.accounts.staff import (
    SEARCH_LIMIT,
    CreateBusiness,
    CreateBusinessRequest,
    CreatedBusiness,
    GrantRoleByAdmin,
    OpenBusiness,
    SearchBusinesses,
    parse_grant,
)

__all__ = [
    "INVITATION_TTL",
    "SEARCH_LIMIT",
    "AcceptInvitation",
    "AcceptInvitationRequest",
    "BusinessRecipients",
    "BusinessView",
    "CreateBusiness",
    "CreateBusinessRequest",
    "CreateInvitation",
    "CreateInvitationRequest",
    "CreatedBusiness",
    "DecideJoinRequest",
    "DecideJoinRequestRequest",
    "FindBusinessByTaxCode",
    "GrantRoleByAdmin",
    "Greet",
    "Greeting",
    "InvitationCreated",
    "InvitationOutcome",
    "InvitationStatus",
    "JoinDecision",
    "JoinDecisionStatus",
    "JoinRequested",
    "JoinStatus",
    "OpenBusiness",
    "Person",
    "Recipient",
    "Recipients",
    "RequestToJoin",
    "RequestToJoinRequest",
    "SearchBusinesses",
    "SignUp",
    "SignUpRequest",
    "SignUpResult",
    "SignUpStatus",
    "may_invite",
    "parse_grant",
    "uses_bot",
]
