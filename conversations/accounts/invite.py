"""``/invite``: an owner invites an employee; a staff member picks or creates a business and
invites its first owner (or an employee). The result is a one-time deep link."""

from __future__ import annotations

from urllib.parse import quote

from conversations.accounts.common import (
    INVITE_FLOW,
    AccountAction,
    AccountsServices,
    AccountStep,
    InvitationLink,
    StepsFlow,
    business_params,
    finish,
    invite_link,
    notice,
    role_msg,
)
from conversations.accounts.draft import InviteDraft, InviteStep
from conversations.accounts.picker import StaffBusinessPicker
from conversations.kit import nav, unexpected
from conversations.screens import Button, Day, Msg, Plain, Screen
from conversations.turn import Turn
from domain.errors import NotFound, PermissionDenied
from domain.model import Role
from domain.usecases.accounts import CreateInvitationRequest

__all__ = ["InviteFlow", "InviteStep", "invitation_screen"]


def go(t: Turn, step: str) -> None:
    d = InviteDraft.load(t.draft)
    d.step, d.failures = step, 0
    d.store(t.draft)


class InviteFlow(StepsFlow):
    """``/invite`` (see the module doc); the draft is an :class:`InviteDraft` (staff: plus the
    picker's)."""

    def __init__(self, services: AccountsServices) -> None:
        self._services = services
        self._picker = StaffBusinessPicker(services, title="acc.pick.title_invite")
        self.steps = {
            InviteStep.PICK: AccountStep(self._draw_pick, {AccountAction.ENTERPRISE: self._picked}),
            InviteStep.BUSINESS: AccountStep(
                self._picker.screen,
                {
                    AccountAction.PICK_BUSINESS: self._find_business,
                    AccountAction.NEW_BUSINESS: self._new_business,
                },
                text=self._business_typed,
                back=self._back_in_picker,
            ),
            InviteStep.ROLE: AccountStep(
                self._draw_role, {AccountAction.ROLE: self._role_chosen}, back=self._back_to_picker
            ),
        }

    async def start(self, t: Turn, arg: str) -> None:
        t.draft.clear()
        access = await t.services.registrants.access(t.user_id)
        if access.is_staff:
            go(t, InviteStep.BUSINESS)
            self._picker.begin(t)
            return
        owned = access.owned
        if len(owned) == 1:
            await self._create(t, owned[0].id, Role.MEMBER)
        elif owned:
            go(t, InviteStep.PICK)
        else:
            go(t, INVITE_FLOW)
            finish(t, Msg("acc.invite_not_allowed"))

    async def _create(self, t: Turn, enterprise_id: int, role: Role) -> None:
        try:
            created = await self._services.invite(
                CreateInvitationRequest(t.user_id, enterprise_id, role)
            )
        except (PermissionDenied, NotFound):
            finish(t, Msg("acc.invite_refused"))
            return
        username = await self._services.bot_username()
        link = InvitationLink(created, invite_link(username, created.token))
        t.done = True
        t.extra.append(invitation_screen(link))

    # an owner of several businesses

    async def _draw_pick(self, t: Turn) -> Screen:
        access = await t.services.registrants.access(t.user_id)
        rows = tuple(
            (
                Button(
                    Plain(f"{e.name} ({e.tax_code})"),
                    action=AccountAction.ENTERPRISE,
                    arg=str(e.id),
                ),
            )
            for e in access.owned
        )
        return Screen(Msg("acc.invite_pick"), (*rows, nav(back=False)))

    async def _picked(self, t: Turn, arg: str) -> None:
        if not arg.isdigit():
            raise unexpected()
        await self._create(t, int(arg), Role.MEMBER)

    # staff: the business, then the role

    async def _picker_button(self, t: Turn, action: AccountAction, arg: str) -> None:
        if await self._picker.button(t, action.value, arg):
            go(t, InviteStep.ROLE)

    async def _find_business(self, t: Turn, arg: str) -> None:
        await self._picker_button(t, AccountAction.PICK_BUSINESS, arg)

    async def _new_business(self, t: Turn, arg: str) -> None:
        await self._picker_button(t, AccountAction.NEW_BUSINESS, arg)

    async def _business_typed(self, t: Turn, text: str) -> None:
        if await self._picker.text(t, text):
            go(t, InviteStep.ROLE)

    async def _back_in_picker(self, t: Turn) -> None:
        self._picker.back(t)

    async def _back_to_picker(self, t: Turn) -> None:
        self._picker.begin(t)
        go(t, InviteStep.BUSINESS)

    async def _draw_role(self, t: Turn) -> Screen:
        return Screen(
            Msg("acc.invite_role"),
            (
                (
                    Button(role_msg(Role.OWNER), action=AccountAction.ROLE, arg=Role.OWNER.value),
                    Button(role_msg(Role.MEMBER), action=AccountAction.ROLE, arg=Role.MEMBER.value),
                ),
                nav(),
            ),
        )

    async def _role_chosen(self, t: Turn, arg: str) -> None:
        d = InviteDraft.load(t.draft)
        if arg not in (Role.OWNER.value, Role.MEMBER.value) or d.business is None:
            raise unexpected()
        await self._create(t, d.business, Role(arg))


def invitation_screen(link: InvitationLink) -> Screen:
    """The deep link to send, with its role, business and expiry, and a share button."""
    inv = link.invitation
    share = f"https://t.me/share/url?url={quote(link.url, safe='')}"
    return notice(
        Msg(
            "acc.invite_link",
            {
                "link": Plain(link.url),
                "role": role_msg(inv.role),
                "expires": Day(inv.expires_at, with_time=True),
                **business_params(inv.business),
            },
        ),
        (Button(Msg("acc.btn.share_link"), url=share),),
    )
