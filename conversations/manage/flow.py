"""The flow object the engine drives: the step table and the entry (list, a subscription by
code, a business by tax code)."""

from __future__ import annotations

from typing import Final

from conversations.kit import unexpected
from conversations.manage import change, detail, forms, listing
from conversations.manage.context import Ctx, ManageBackend, StepSpec
from conversations.manage.draft import Action, Field, ManageDraft, Step
from conversations.screens import Delivery, Msg, Screen
from conversations.turn import Turn
from domain.validation import normalize_tax_code

#: every step of the flow, by the module of its screens
STEPS: Final[dict[Step, StepSpec]] = {
    **listing.STEPS,
    **detail.STEPS,
    **forms.STEPS,
    **change.STEPS,  # Đổi gói: its steps, and its actions on the subscription's own step
}

_ACTIONS: Final = frozenset(a.value for a in Action)


class ManageFlow:
    """See the package doc. Every step is a :class:`StepSpec` in :data:`STEPS`."""

    def __init__(self, backend: ManageBackend) -> None:
        self._backend = backend

    def _ctx(self, t: Turn) -> Ctx:
        return Ctx(t, ManageDraft.load(t.draft), self._backend)

    async def start(self, t: Turn, arg: str) -> None:
        """``arg``: nothing (the list), a subscription code (open it) or a tax code (that
        business's list); anything else is ignored (an entry button's arg can be forged)."""
        c = Ctx(t, ManageDraft(), self._backend)
        t.delivery = Delivery.NEW
        arg = arg.strip()
        if arg.upper().startswith("TB-"):
            view = await self._backend.find(t.user_id, arg)
            detail.open_subscription(c, view.subscription.id)
        elif arg and len(normalize_tax_code(arg)) in (10, 13):
            await listing.tax_code_typed(c, arg)
        c.save()

    async def screen(self, t: Turn) -> Screen:
        """Draws the current step; an invoice's PDF goes with the first draw only, so the draw
        may change the draft."""
        c = self._ctx(t)
        screen = await STEPS[c.d.step].draw(c)
        c.save()
        return screen

    async def button(self, t: Turn, action: str, arg: str) -> None:
        c = self._ctx(t)
        handler = STEPS[c.d.step].on.get(Action(action)) if action in _ACTIONS else None
        if handler is None:
            raise unexpected()
        await handler(c, arg)
        c.save()

    async def text(self, t: Turn, text: str) -> None:
        t.delivery = Delivery.NEW
        c = self._ctx(t)
        accept = STEPS[c.d.step].text
        if accept is None:
            t.notice = Msg("manage.use_buttons")
            return
        await accept(c, text)
        c.save()

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        c = self._ctx(t)
        if c.d.step is Step.FORM and c.d.prompt is Field.EMP_PHONE:
            await forms.accept(c, phone)
            c.save()
        else:
            t.notice = Msg("manage.use_buttons")
