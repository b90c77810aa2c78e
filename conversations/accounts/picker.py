"""The business a staff member acts for: find it by tax code or name, or create it. The
registration's business step and the first step of a staff member's invitation."""

from __future__ import annotations

from conversations.accounts.common import (
    MAX_QUERY,
    AccountAction,
    AccountsServices,
    business_params,
)
from conversations.accounts.draft import PICKER_KEYS, NewBusiness, PickerDraft, PickStep
from conversations.kit import nav, unexpected
from conversations.screens import Button, Join, Msg, Param, Plain, Screen
from conversations.turn import Turn
from domain.errors import InvalidInput
from domain.usecases.accounts import BusinessView, CreateBusinessRequest
from domain.validation import (
    is_valid_tax_code,
    normalize_tax_code,
    validate_address,
    validate_company_name,
    validate_email,
    validate_tax_code,
)

_PICK_BACK = {
    PickStep.TAX: PickStep.QUERY,
    PickStep.NAME: PickStep.TAX,
    PickStep.ADDRESS: PickStep.NAME,
    PickStep.EMAIL: PickStep.ADDRESS,
}


class StaffBusinessPicker:
    """Find a business by tax code or name, or create it (then ``draft["e"]`` names it).

    Its draft is a :class:`~conversations.accounts.draft.PickerDraft` in its host's dict.
    Used as the registration's :attr:`~conversations.registration.Step.BUSINESS` step and as
    the first step of a staff member's invitation; ``title`` says which."""

    def __init__(self, services: AccountsServices, *, title: str = "acc.pick.title_register"):
        self._services = services
        self._title = title

    def begin(self, t: Turn) -> None:
        PickerDraft(sub=PickStep.QUERY).store(t.draft)

    async def screen(self, t: Turn) -> Screen:
        d = PickerDraft.load(t.draft)
        sub = d.step
        if sub is PickStep.QUERY:
            return await self._search_screen(t, d.query)
        new = d.new or NewBusiness()
        field = _FIELDS[sub]
        text = Join(
            (
                Msg(self._title),
                Msg(
                    "acc.pick.ask_new",
                    {
                        "field": Msg(f"acc.pick.field.{field}"),
                        "example": Msg(f"acc.pick.example.{field}"),
                        "tax_code": Plain(new.tax_code or "—"),
                    },
                ),
            )
        )
        return Screen(text, (nav(),))

    async def _search_screen(self, t: Turn, query: str) -> Screen:
        lines: list[Param] = [Msg(self._title), Msg("acc.pick.ask_query")]
        rows: list[tuple[Button, ...]] = []
        if query:
            found = await self._services.search(t.user_id, query)
            if found:
                lines.append(Msg("acc.pick.results", {"query": Plain(query)}))
                rows = [
                    (
                        Button(
                            Plain(f"{b.name} ({b.tax_code})"),
                            action=AccountAction.PICK_BUSINESS,
                            arg=str(b.id),
                        ),
                    )
                    for b in found
                ]
            else:
                lines.append(Msg("acc.pick.no_results", {"query": Plain(query)}))
        rows.append((Button(Msg("acc.btn.new_business"), action=AccountAction.NEW_BUSINESS),))
        return Screen(Join(tuple(lines)), (*rows, nav()))

    async def button(self, t: Turn, action: str, arg: str) -> bool:
        if action == AccountAction.PICK_BUSINESS and arg.isdigit():
            business = await self._services.open_business(t.user_id, int(arg))
            self._chosen(t, business, "acc.pick.chosen")
            return True
        if action == AccountAction.NEW_BUSINESS:
            d = PickerDraft.load(t.draft)
            query = normalize_tax_code(d.query)
            if is_valid_tax_code(query):
                d.new, d.sub = NewBusiness(tax_code=validate_tax_code(query)), PickStep.NAME
            else:
                d.new, d.sub = NewBusiness(), PickStep.TAX
            d.store(t.draft)
            return False
        raise unexpected()

    async def text(self, t: Turn, text: str) -> bool:
        d = PickerDraft.load(t.draft)
        value = text.strip()
        new = d.new or NewBusiness()
        if d.step is PickStep.QUERY:
            if len(value) < 2:
                raise InvalidInput("query", field="query", reason="search.short", example="0100")
            d.query = value[:MAX_QUERY]
            d.store(t.draft)
            return False
        if d.step is PickStep.TAX:
            code = validate_tax_code(value)
            existing = await self._services.find_by_tax_code(code)
            if existing is not None:
                self._chosen(t, existing, "acc.pick.exists_chosen")
                return True
            new.tax_code, d.sub = code, PickStep.NAME
        elif d.step is PickStep.NAME:
            new.name, d.sub = validate_company_name(value), PickStep.ADDRESS
        elif d.step is PickStep.ADDRESS:
            new.address, d.sub = validate_address(value), PickStep.EMAIL
        else:
            created = await self._services.create_business(
                CreateBusinessRequest(
                    actor_id=t.user_id,
                    tax_code=new.tax_code or "",
                    name=new.name or "",
                    address=new.address or "",
                    email=validate_email(value),
                )
            )
            key = "acc.pick.created" if created.created else "acc.pick.exists_chosen"
            self._chosen(t, created.business, key)
            return True
        d.new = new
        d.store(t.draft)
        return False

    @staticmethod
    def _chosen(t: Turn, business: BusinessView, key: str) -> None:
        for k in PICKER_KEYS:
            t.draft.pop(k, None)
        t.draft["e"] = business.id
        t.notice = Msg(key, business_params(business))

    def back(self, t: Turn) -> bool:
        d = PickerDraft.load(t.draft)
        previous = _PICK_BACK.get(d.step)
        if previous is None:
            return False
        d.sub = previous
        d.store(t.draft)
        return True


_FIELDS = {
    PickStep.TAX: "tax",
    PickStep.NAME: "name",
    PickStep.ADDRESS: "addr",
    PickStep.EMAIL: "email",
}
