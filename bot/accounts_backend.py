"""The accounts conversations' backend: each question answered by one use case
(``domain.usecases.accounts``), so every permission is checked there.

The bot's username, needed for invitation deep links (``https://t.me/<bot>?start=…``), comes
from ``getMe`` (cached by aiogram after the first call); the default language fills in the
recipients whose language is unknown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from conversations.accounts import InvitationLink, invite_link
from domain.model import Role
from domain.ports import Clock, UowFactory
from domain.usecases.accounts import (
    INVITATION_TTL,
    AcceptInvitation,
    AcceptInvitationRequest,
    BusinessRecipients,
    BusinessView,
    CreateBusiness,
    CreateBusinessRequest,
    CreatedBusiness,
    CreateInvitation,
    CreateInvitationRequest,
    DecideJoinRequest,
    DecideJoinRequestRequest,
    FindBusinessByTaxCode,
    GrantRoleByAdmin,
    Greet,
    Greeting,
    InvitationOutcome,
    JoinDecision,
    JoinRequested,
    OpenBusiness,
    Person,
    Recipient,
    Recipients,
    RequestToJoin,
    RequestToJoinRequest,
    SearchBusinesses,
    SignUp,
    SignUpRequest,
    SignUpResult,
    parse_grant,
)
from domain.usecases.admin import GrantRoleResult

__all__ = ["DatabaseAccountsBackend"]


class DatabaseAccountsBackend:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        bot_username: Callable[[], Awaitable[str]],
        *,
        default_locale: str = "vi",
        invitation_ttl: timedelta = INVITATION_TTL,
    ) -> None:
        self._bot_username = bot_username
        self._default_locale = default_locale
        self._greet = Greet(uow, clock)
        self._find = FindBusinessByTaxCode(uow)
        self._sign_up = SignUp(uow, clock)
        self._request_join = RequestToJoin(uow, clock)
        self._decide_join = DecideJoinRequest(uow, clock)
        self._invite = CreateInvitation(uow, clock, invitation_ttl)
        self._accept = AcceptInvitation(uow, clock)
        self._search = SearchBusinesses(uow, clock)
        self._open = OpenBusiness(uow, clock)
        self._create = CreateBusiness(uow, clock)
        self._owners = BusinessRecipients(uow)
        self._grant = GrantRoleByAdmin(uow, clock)

    def _lang(self, recipient: Recipient) -> Recipient:
        return replace(recipient, locale=recipient.locale or self._default_locale)

    async def greet(self, person: Person) -> Greeting:
        return await self._greet(person)

    async def find_by_tax_code(self, tax_code: str) -> BusinessView | None:
        return await self._find(tax_code)

    async def sign_up(self, request: SignUpRequest) -> SignUpResult:
        return await self._sign_up(request)

    async def request_join(self, request: RequestToJoinRequest) -> JoinRequested:
        result = await self._request_join(request)
        return replace(result, owners=tuple(self._lang(o) for o in result.owners))

    async def decide_join(self, actor_id: int, request_id: int, accept: bool) -> JoinDecision:
        result = await self._decide_join(DecideJoinRequestRequest(actor_id, request_id, accept))
        return replace(result, requester=self._lang(result.requester))

    async def invite(self, actor_id: int, enterprise_id: int, role: Role) -> InvitationLink:
        created = await self._invite(CreateInvitationRequest(actor_id, enterprise_id, role))
        return InvitationLink(created, invite_link(await self._bot_username(), created.token))

    async def accept_invitation(self, person: Person, token: str) -> InvitationOutcome:
        outcome = await self._accept(AcceptInvitationRequest(person, token))
        if outcome.inviter is None:
            return outcome
        return replace(outcome, inviter=self._lang(outcome.inviter))

    async def search(self, actor_id: int, query: str) -> list[BusinessView]:
        return await self._search(actor_id, query)

    async def open_business(self, actor_id: int, enterprise_id: int) -> BusinessView:
        return await self._open(actor_id, enterprise_id)

    async def create_business(self, request: CreateBusinessRequest) -> CreatedBusiness:
        return await self._create(request)

    async def owners(self, enterprise_id: int, exclude: tuple[int, ...] = ()) -> Recipients:
        found = await self._owners(enterprise_id, exclude)
        return replace(found, owners=tuple(self._lang(o) for o in found.owners))

    async def grant(self, actor_id: int, arg: str) -> GrantRoleResult:
        user_id, role, tax_code = parse_grant(arg)
        return await self._grant(actor_id, user_id, role, tax_code)
