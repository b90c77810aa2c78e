"""Accounts flows of one turn: an owner's **Chấp nhận** / **Từ chối** on a join request,
``/grant`` for admins; and what a business's owners are told when a staff member registered
for it."""

from __future__ import annotations

from typing import Any

from conversations.accounts.common import (
    GRANT_FLOW,
    JOIN_FLOW,
    AccountsServices,
    business_params,
    finish,
    go,
    person,
)
from conversations.kit import unexpected
from conversations.payment import CASH_ACTION
from conversations.registration import PICKED_BY_STAFF
from conversations.screens import Button, Delivery, Join, Msg, Param, Plain, Screen, notice
from conversations.turn import Turn
from domain.catalog import ServiceKind
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.registration import OrderOutcome, OrderOutcomeKind
from domain.usecases.accounts import (
    BusinessView,
    DecideJoinRequestRequest,
    JoinDecisionStatus,
    parse_grant,
)


class _OneTurn:
    """A flow that ends in ``start``; its other entry points only answer stray events."""

    async def screen(self, t: Turn) -> Screen:
        return Screen(Msg("menu.use_buttons"), delivery=Delivery.NEW)

    async def button(self, t: Turn, action: str, arg: str) -> None:
        raise unexpected()

    async def text(self, t: Turn, text: str) -> None:
        t.done = True

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.done = True


class JoinDecisionFlow(_OneTurn):
    """An owner's answer to a join request. A forged, unknown or foreign request id gets the
    same reply as any other that cannot be answered: nothing about it is shown."""

    def __init__(self, services: AccountsServices) -> None:
        self._services = services

    async def start(self, t: Turn, arg: str) -> None:
        go(t, JOIN_FLOW)
        t.done = True
        verb, number = arg[:1], arg[1:]
        try:
            if verb not in ("a", "r") or not number.isdigit() or len(number) > 18:
                raise NotFound("bad join request id", field="join_request")
            decision = await self._services.decide_join(
                DecideJoinRequestRequest(t.user_id, int(number), verb == "a")
            )
        except (NotFound, PermissionDenied):
            t.extra.append(notice(Msg("acc.join_unavailable")))
            return
        params = {"name": Plain(decision.requester_name), **business_params(decision.business)}
        if decision.status is JoinDecisionStatus.ALREADY_DECIDED:
            status = Msg(f"acc.join_status.{decision.decided.value.lower()}")
            t.extra.append(notice(Msg("acc.join_already_decided", {**params, "status": status})))
            return
        accepted = decision.status is JoinDecisionStatus.ACCEPTED
        t.extra.append(notice(Msg("acc.join_accepted" if accepted else "acc.join_refused", params)))
        # the requester's answer was written to the outbox by the use case


class GrantFlow(_OneTurn):
    """``/grant TELEGRAM_ID ROLE [TAX_CODE]`` for admins."""

    def __init__(self, services: AccountsServices) -> None:
        self._services = services

    async def start(self, t: Turn, arg: str) -> None:
        go(t, GRANT_FLOW)
        try:
            user_id, role, tax_code = parse_grant(arg)
            result = await self._services.grant(t.user_id, user_id, role, tax_code)
        except PermissionDenied:
            finish(t, Msg("acc.grant_admin_only"))
            return
        except NotFound:
            finish(t, Msg("acc.grant_no_business"))
            return
        except InvalidInput:
            finish(t, Msg("acc.grant_usage"))
            return
        where: Param = (
            Msg("acc.grant_in", business_params(BusinessView.of(result.enterprise)))
            if result.enterprise is not None
            else ""
        )
        key = "acc.granted" if result.changed else "acc.grant_unchanged"
        params: dict[str, Param] = {
            "user": int(result.user.id),
            "role": Msg(f"acc.role.{result.role.value}"),
            "where": where,
        }
        finish(t, Msg(key, params))


# --- a staff member registered for a business -------------------------------------------------


class AgentOrderNotice:
    """The registration flow's ``order_placed`` hook: when a staff member placed the order
    for a business (through the business step), its owners who use the bot get the same
    result the staff member got — the payment link and QR code (ON) or the pending cash order
    (OS) — and the staff member is told who was told; for OS they may confirm the cash now."""

    def __init__(self, services: AccountsServices) -> None:
        self._services = services

    async def __call__(self, t: Turn, outcome: OrderOutcome) -> None:
        if outcome.kind is not OrderOutcomeKind.CREATED:
            return
        if t.draft.get("pick") != PICKED_BY_STAFF or not t.draft.get("e"):
            return
        recipients = await self._services.owners(int(t.draft["e"]), (t.user_id,))
        service = t.catalog.service(str(t.draft.get("sv", "")))
        params: dict[str, Any] = {
            "agent": Plain(person(t).first_name),
            "service": Plain(service.name if service is not None else ""),
            **business_params(recipients.business),
        }
        # the owners' copy was written to the outbox by the use case that placed the order
        # (or, for a payment link, by the one that obtained it)
        told = len(recipients.owners)
        parts: list[Param] = [
            Msg("acc.agent_told", {"count": told, **params})
            if told
            else Msg("acc.agent_no_owner", params)
        ]
        rows: list[tuple[Button, ...]] = []
        if outcome.kind_of_service == ServiceKind.OS and outcome.subscription_code:
            parts.append(Msg("acc.agent_cash", {"subscription": Plain(outcome.subscription_code)}))
            rows.append(
                (
                    Button(
                        Msg("acc.btn.confirm_cash"),
                        action=CASH_ACTION,
                        arg=outcome.subscription_code,
                    ),
                )
            )
        t.extra.append(notice(Join(tuple(parts)), *rows))
