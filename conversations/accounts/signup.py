"""``/start``: a known user gets the main menu; a deep link with an invitation joins its
business; a new user signs up — their own phone through Telegram's contact button, the tax
code (validated), then either the company name, address and invoice e-mail (→ the business is
created, the user owns it) or, when the tax code is taken, a request to join that its owners
answer."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from conversations.accounts.common import (
    INVITE_PREFIX,
    JOIN_ACTION,
    NAME_SHOWN,
    START_FLOW,
    AccountAction,
    AccountsServices,
    AccountStep,
    StepsFlow,
    business_params,
    finish,
    go,
    person,
    refuse_text,
    role_msg,
)
from conversations.kit import nav
from conversations.screens import Button, Delivery, Msg, Plain, ReplyKeyboard, Screen
from conversations.turn import Turn
from domain.errors import InvalidInput
from domain.usecases.accounts import (
    AcceptInvitationRequest,
    InvitationOutcome,
    InvitationStatus,
    JoinRequested,
    JoinStatus,
    RequestToJoinRequest,
    SignUpRequest,
    SignUpStatus,
)
from domain.validation import (
    display_phone,
    validate_address,
    validate_company_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)


class SignUpStep(enum.StrEnum):
    PHONE = "su_phone"
    TAX = "su_tax"
    JOIN = "su_join"
    NAME = "su_name"
    ADDRESS = "su_addr"
    EMAIL = "su_email"
    SUMMARY = "su_sum"


@dataclass
class SignUp:
    """What the user gave so far, stored under short keys: ``ph`` phone (E.164, from the
    user's own contact), ``tx`` tax code, ``nm`` name, ``ad`` address, ``em`` e-mail; for a
    taken tax code ``jb``/``jn``: the business's id and name."""

    phone: str = ""
    tax_code: str = ""
    name: str = ""
    address: str = ""
    email: str = ""
    join_id: int | None = None
    join_name: str = ""

    @classmethod
    def load(cls, raw: dict[str, Any]) -> SignUp:
        jb = raw.get("jb")
        return cls(
            phone=str(raw.get("ph", "")),
            tax_code=str(raw.get("tx", "")),
            name=str(raw.get("nm", "")),
            address=str(raw.get("ad", "")),
            email=str(raw.get("em", "")),
            join_id=int(jb) if jb is not None else None,
            join_name=str(raw.get("jn", "")),
        )

    def store(self, raw: dict[str, Any]) -> None:
        """Write these keys into the draft (the step and failure count are the flow's)."""
        values: dict[str, Any] = {
            "ph": self.phone,
            "tx": self.tax_code,
            "nm": self.name,
            "ad": self.address,
            "em": self.email,
            "jb": self.join_id,
            "jn": self.join_name if self.join_id is not None else None,
        }
        for key, value in values.items():
            if value is None or value == "":
                raw.pop(key, None)
            else:
                raw[key] = value


class StartFlow(StepsFlow):
    """``/start`` (see the module doc)."""

    def __init__(self, services: AccountsServices) -> None:
        self._services = services
        self.steps = {
            SignUpStep.PHONE: AccountStep(self._draw_phone, text=self._phone_typed),
            SignUpStep.TAX: AccountStep(
                self._draw_tax, text=self._tax_typed, back=SignUpStep.PHONE
            ),
            SignUpStep.JOIN: AccountStep(
                self._draw_join, {AccountAction.JOIN: self._ask_to_join}, back=SignUpStep.TAX
            ),
            SignUpStep.NAME: AccountStep(
                self._draw_name, text=self._name_typed, back=SignUpStep.TAX
            ),
            SignUpStep.ADDRESS: AccountStep(
                self._draw_address, text=self._address_typed, back=SignUpStep.NAME
            ),
            SignUpStep.EMAIL: AccountStep(
                self._draw_email, text=self._email_typed, back=SignUpStep.ADDRESS
            ),
            SignUpStep.SUMMARY: AccountStep(
                self._draw_summary,
                {AccountAction.CREATE: self._create},
                back=SignUpStep.EMAIL,
            ),
        }

    async def start(self, t: Turn, arg: str) -> None:
        t.draft.clear()
        go(t, START_FLOW)
        arg = arg.strip()
        if arg.startswith(INVITE_PREFIX):
            await self._invitation(t, arg[len(INVITE_PREFIX) :])
            return
        greeting = await self._services.greet(person(t))
        if greeting.known:
            t.done = True
            return
        if greeting.pending:
            names = ", ".join(b.name for b in greeting.pending)
            finish(t, Msg("acc.join_waiting", {"business": Plain(names)}))
            return
        go(t, SignUpStep.PHONE)

    async def _invitation(self, t: Turn, token: str) -> None:
        outcome = await self._services.accept_invitation(AcceptInvitationRequest(person(t), token))
        finish(t, _invitation_notice(outcome))  # the inviter is told through the outbox

    # phone: the user's own, through the contact button

    async def _draw_phone(self, t: Turn) -> Screen:
        return Screen(
            Msg("acc.signup_phone"),
            (nav(back=False),),
            reply_keyboard=ReplyKeyboard(share_contact=True),
            delivery=Delivery.NEW,
        )

    async def _phone_typed(self, t: Turn, text: str) -> None:
        t.notice = Msg("acc.phone_use_button")

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        if t.draft.get("s") != SignUpStep.PHONE:
            t.notice = Msg("reg.use_buttons")
            return
        if not own:
            t.notice = Msg("contact.not_own")
            return
        data = SignUp.load(t.draft)
        try:
            data.phone = validate_phone(phone)
        except InvalidInput as exc:
            refuse_text(t, exc)
            return
        data.store(t.draft)
        go(t, SignUpStep.TAX)

    # tax code: a new business, or one to ask to join

    async def _draw_tax(self, t: Turn) -> Screen:
        phone = display_phone(SignUp.load(t.draft).phone)
        return Screen(Msg("acc.signup_tax", {"phone": Plain(phone)}), (nav(),))

    async def _tax_typed(self, t: Turn, text: str) -> None:
        data = SignUp.load(t.draft)
        data.tax_code = validate_tax_code(text)
        existing = await self._services.find_by_tax_code(data.tax_code)
        if existing is not None:
            data.join_id, data.join_name = existing.id, existing.name[:NAME_SHOWN]
            data.store(t.draft)
            go(t, SignUpStep.JOIN)
        else:
            data.join_id, data.join_name = None, ""
            data.store(t.draft)
            go(t, SignUpStep.NAME)

    async def _draw_join(self, t: Turn) -> Screen:
        data = SignUp.load(t.draft)
        return Screen(
            Msg(
                "acc.signup_exists",
                {"business": Plain(data.join_name), "tax_code": Plain(data.tax_code)},
            ),
            ((Button(Msg("acc.btn.ask_to_join"), action=AccountAction.JOIN),), nav()),
        )

    async def _ask_to_join(self, t: Turn, arg: str) -> None:
        data = SignUp.load(t.draft)
        assert data.join_id is not None
        result = await self._services.request_join(
            RequestToJoinRequest(person=person(t), phone=data.phone, enterprise_id=data.join_id)
        )
        params = business_params(result.business)
        if result.status is JoinStatus.MEMBER:
            finish(t, Msg("acc.already_member", params))
            return
        if result.status is JoinStatus.PENDING:
            finish(t, Msg("acc.join_already_pending", params))
            return
        key = "acc.join_sent" if result.owners else "acc.join_sent_no_owner"
        finish(t, Msg(key, params))  # the owners' requests went to the outbox with it

    # the new business

    async def _draw_name(self, t: Turn) -> Screen:
        tax_code = SignUp.load(t.draft).tax_code
        return Screen(Msg("acc.signup_name", {"tax_code": Plain(tax_code)}), (nav(),))

    async def _name_typed(self, t: Turn, text: str) -> None:
        data = SignUp.load(t.draft)
        data.name = validate_company_name(text)
        data.store(t.draft)
        go(t, SignUpStep.ADDRESS)

    async def _draw_address(self, t: Turn) -> Screen:
        return Screen(Msg("acc.signup_address"), (nav(),))

    async def _address_typed(self, t: Turn, text: str) -> None:
        data = SignUp.load(t.draft)
        data.address = validate_address(text)
        data.store(t.draft)
        go(t, SignUpStep.EMAIL)

    async def _draw_email(self, t: Turn) -> Screen:
        return Screen(Msg("acc.signup_email"), (nav(),))

    async def _email_typed(self, t: Turn, text: str) -> None:
        data = SignUp.load(t.draft)
        data.email = validate_email(text)
        data.store(t.draft)
        go(t, SignUpStep.SUMMARY)

    async def _draw_summary(self, t: Turn) -> Screen:
        data = SignUp.load(t.draft)
        return Screen(
            Msg(
                "acc.signup_summary",
                {
                    "business": Plain(data.name),
                    "tax_code": Plain(data.tax_code),
                    "address": Plain(data.address),
                    "email": Plain(data.email),
                    "phone": Plain(display_phone(data.phone)),
                },
            ),
            ((Button(Msg("acc.btn.create_business"), action=AccountAction.CREATE),), nav()),
        )

    async def _create(self, t: Turn, arg: str) -> None:
        data = SignUp.load(t.draft)
        result = await self._services.sign_up(
            SignUpRequest(
                person=person(t),
                phone=data.phone,
                tax_code=data.tax_code,
                name=data.name,
                address=data.address,
                email=data.email,
            )
        )
        if result.status is SignUpStatus.EXISTS:
            data.join_id, data.join_name = result.business.id, result.business.name[:NAME_SHOWN]
            data.store(t.draft)
            t.notice = Msg("acc.taken_meanwhile", business_params(result.business))
            go(t, SignUpStep.JOIN)
            return
        finish(t, Msg("acc.signed_up", business_params(result.business)))


def _invitation_notice(outcome: InvitationOutcome) -> Msg:
    if outcome.status is InvitationStatus.JOINED or (
        outcome.status is InvitationStatus.ALREADY_MEMBER
    ):
        assert outcome.business is not None and outcome.role is not None
        return Msg(
            f"acc.invitation_{outcome.status.value}",
            {"role": role_msg(outcome.role), **business_params(outcome.business)},
        )
    return Msg(f"acc.invitation_{outcome.status.value}")


def join_request_screen(result: JoinRequested) -> Screen:
    """What a business's owners get: who asks, and **Chấp nhận** / **Từ chối** (entry
    buttons: they work on this message whatever the owner's conversation is doing)."""
    request = str(result.request_id)
    return Screen(
        Msg(
            "acc.join_ask",
            {
                "name": Plain(result.requester_name),
                "phone": Plain(display_phone(result.requester_phone)),
                **business_params(result.business),
            },
        ),
        (
            (
                Button(Msg("acc.btn.accept"), action=JOIN_ACTION, arg=f"a{request}"),
                Button(Msg("acc.btn.refuse"), action=JOIN_ACTION, arg=f"r{request}"),
            ),
        ),
        delivery=Delivery.NEW,
    )
