"""``/invite``: an owner invites an employee — picked in Telegram (a ``request_users`` button)
or through a link to send themselves; a staff member picks or creates a business and invites
its first owner (or an employee). The result is a one-time deep link."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from conversations.accounts.common import (
    INVITE_FLOW,
    INVITE_PREFIX,
    INVITED_ACTION,
    AccountAction,
    AccountsServices,
    AccountStep,
    InvitationLink,
    StepsFlow,
    business_params,
    finish,
    invite_link,
    role_msg,
)
from conversations.accounts.draft import InviteDraft, InviteStep
from conversations.accounts.picker import StaffBusinessPicker
from conversations.kit import nav, unexpected
from conversations.screens import (
    Button,
    Day,
    Delivery,
    Join,
    Msg,
    Param,
    PickUsers,
    Plain,
    ReplyKeyboard,
    Screen,
    notice,
)
from conversations.session import SharedUser
from conversations.turn import Turn
from domain.errors import NotFound, PermissionDenied
from domain.model import Role
from domain.usecases.accounts import BusinessView, CreateInvitationRequest

__all__ = [
    "InviteFlow",
    "InviteStep",
    "invitation_received_screen",
    "invitation_screen",
    "request_of",
]


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
            InviteStep.WHO: AccountStep(
                self._draw_who, {AccountAction.LINK: self._link}, back=self._back_to_pick
            ),
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
            self._who(t, owned[0].id)
        elif owned:
            go(t, InviteStep.PICK)
        else:
            go(t, INVITE_FLOW)
            finish(t, Msg("acc.invite_not_allowed"))

    async def _create(
        self, t: Turn, enterprise_id: int, role: Role, invitee: SharedUser | None = None
    ) -> None:
        try:
            created = await self._services.invite(
                CreateInvitationRequest(
                    t.user_id,
                    enterprise_id,
                    role,
                    invitee_id=invitee.user_id if invitee is not None else None,
                )
            )
        except (PermissionDenied, NotFound):
            finish(t, Msg("acc.invite_refused"))
            return
        username = await self._services.bot_username()
        link = InvitationLink(created, invite_link(username, created.token))
        t.done = True
        t.extra.append(invitation_screen(link, invitee))

    # an owner: which business, then who

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
        if not arg.isdigit() or len(arg) > 9:
            raise unexpected()
        self._who(t, int(arg))

    @staticmethod
    def _who(t: Turn, enterprise_id: int) -> None:
        d = InviteDraft.load(t.draft)
        d.business, d.role = enterprise_id, Role.MEMBER
        d.store(t.draft)
        go(t, InviteStep.WHO)

    async def _draw_who(self, t: Turn) -> Screen:
        d = InviteDraft.load(t.draft)
        business = d.business or 0
        access = await t.services.registrants.access(t.user_id)
        several = len(access.owned) > 1
        names = [e for e in access.owned if e.id == business]
        params: dict[str, Param] = {
            "business": Plain(names[0].name if names else ""),
            "tax_code": Plain(names[0].tax_code if names else ""),
        }
        return Screen(
            Msg("acc.invite_who", params),
            ((Button(Msg("acc.btn.invite_link"), action=AccountAction.LINK),), nav(back=several)),
            reply_keyboard=ReplyKeyboard(
                pick_users=PickUsers(
                    request_id=request_of(business), label=Msg("acc.btn.pick_employee")
                )
            ),
        )

    async def _link(self, t: Turn, arg: str) -> None:
        d = InviteDraft.load(t.draft)
        if d.business is None:
            raise unexpected()
        await self._create(t, d.business, d.role or Role.MEMBER)

    async def users(self, t: Turn, request_id: int, users: tuple[SharedUser, ...]) -> None:
        """The employee picked with the button of :attr:`InviteStep.WHO`. The button's
        ``request_id`` is the business; one from another step, screen or business (stale or
        forged) changes nothing. Whether the user may invite is the use case's to decide."""
        t.delivery = Delivery.NEW  # the answer to a message, like a typed one
        d = InviteDraft.load(t.draft)
        if d.step != InviteStep.WHO or d.business is None or request_id != request_of(d.business):
            t.notice = Msg("acc.invite_pick_stale")
            return
        if len(users) != 1:
            t.notice = Msg("acc.invite_pick_one")
            return
        [picked] = users
        if picked.user_id == t.user_id:
            t.notice = Msg("acc.invite_pick_self")
            return
        await self._create(t, d.business, d.role or Role.MEMBER, picked)

    async def _back_to_pick(self, t: Turn) -> None:
        access = await t.services.registrants.access(t.user_id)
        if len(access.owned) > 1:
            go(t, InviteStep.PICK)

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


def request_of(enterprise_id: int) -> int:
    """The ``request_id`` of the pick-an-employee button for a business (a signed 32-bit
    number, as Telegram requires)."""
    return enterprise_id & 0x7FFFFFFF


def invitation_screen(link: InvitationLink, invitee: SharedUser | None = None) -> Screen:
    """The deep link to send, with its role, business and expiry, and a share button; for an
    employee picked in Telegram, who to send it to and a button to open their chat (when
    they have a username)."""
    inv = link.invitation
    share = f"https://t.me/share/url?url={quote(link.url, safe='')}"
    text = Msg(
        "acc.invite_link",
        {
            "link": Plain(link.url),
            "role": role_msg(inv.role),
            "expires": Day(inv.expires_at, with_time=True),
            **business_params(inv.business),
        },
    )
    rows: list[tuple[Button, ...]] = [(Button(Msg("acc.btn.share_link"), url=share),)]
    if invitee is None:
        return notice(text, *rows)
    name = invitee.first_name or (f"@{invitee.username}" if invitee.username else "")
    key = "acc.invite_sent_to" if inv.delivered else "acc.invite_for"
    who = Msg(key, {"name": Plain(name or str(invitee.user_id))})
    if invitee.username:
        rows.append(
            (
                Button(
                    Msg("acc.btn.open_chat", {"name": Plain(name)}),
                    url=f"https://t.me/{invitee.username}",
                ),
            )
        )
    return notice(Join((who, text), sep="\n\n"), *rows)


def invitation_received_screen(
    inviter: str, business: BusinessView, role: Role, expires: datetime, token: str
) -> Screen:
    """What an employee picked in Telegram gets: who invites them where, and **Tham gia**
    (an entry button with the invitation's token: it works on this message whatever the
    chat is doing, and is refused like the link once used or expired)."""
    return notice(
        Msg(
            "acc.invitation_received",
            {
                "name": Plain(inviter),
                "role": role_msg(role),
                "expires": Day(expires, with_time=True),
                **business_params(business),
            },
        ),
        (
            Button(
                Msg("acc.btn.join_invited"), action=INVITED_ACTION, arg=f"{INVITE_PREFIX}{token}"
            ),
        ),
    )
