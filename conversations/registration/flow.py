"""The registration flow: the step table and the few rules every step shares (back, typed
answers, the refusal of a button the step does not offer)."""

from __future__ import annotations

from typing import Final

from conversations.kit import retry_notice, unexpected
from conversations.registration import catalog, details, final, promotions
from conversations.registration.context import (
    BusinessPicker,
    Collaborators,
    Ctx,
    OrderPlaced,
    StepSpec,
)
from conversations.registration.draft import Action, RegDraft, Step
from conversations.screens import Delivery, Msg, Screen
from conversations.turn import Turn
from domain.errors import InvalidInput

#: every step of the flow, by the module of its screen group
STEPS: Final[dict[Step, StepSpec]] = {
    **catalog.STEPS,
    **promotions.STEPS,
    **details.STEPS,
    **final.STEPS,
}


class RegistrationFlow:
    """Handles the registration steps. ``start`` opens the catalog (or a service's page);
    ``button``/``text``/``contact`` move the draft; ``screen`` draws the current step."""

    def __init__(
        self,
        *,
        order_placed: OrderPlaced | None = None,
        business: BusinessPicker | None = None,
    ) -> None:
        """``order_placed`` is told of every order placed; ``business`` lets staff pick the
        business they register for (without it staff cannot register)."""
        self._deps = Collaborators(order_placed=order_placed, business=business)

    async def start(self, t: Turn, arg: str = "") -> None:
        draft = RegDraft()
        if arg and t.catalog.service(arg):
            draft.service = arg
            draft.step = Step.SERVICE
        draft.save(t.draft)

    async def screen(self, t: Turn) -> Screen:
        c = Ctx.load(t, self._deps)
        return await STEPS[c.d.step].draw(c)

    async def button(self, t: Turn, action: str, arg: str) -> None:
        c = Ctx.load(t, self._deps)
        spec = STEPS[c.d.step]
        if action == Action.BACK:
            await _back(c, spec)
        else:
            handler = spec.on.get(Action(action)) if action in _ACTIONS else None
            if handler is None:
                raise unexpected()
            await handler(c, arg)
        c.save()

    async def text(self, t: Turn, text: str) -> None:
        t.delivery = Delivery.NEW
        c = Ctx.load(t, self._deps)
        accept = STEPS[c.d.step].text
        if accept is None:
            t.notice = Msg("reg.use_buttons")
            return
        try:
            await accept(c, text)
        except InvalidInput as exc:
            c.d.failures += 1
            t.notice = retry_notice(exc, c.d.failures)
        c.save()

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        if RegDraft.load(t.draft).step is not Step.CONTACT_PHONE:
            t.notice = Msg("reg.use_buttons")
            return
        await self.text(t, phone)


_ACTIONS: Final = frozenset(a.value for a in Action)


async def _back(c: Ctx, spec: StepSpec) -> None:
    if isinstance(spec.back, Step):
        c.go(spec.back)
    elif spec.back is not None:
        await spec.back(c)
