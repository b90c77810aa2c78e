"""The business a staff member acts for: find it by tax code or name, or create it. The
registration's business step and the first step of a staff member's invitation."""

from __future__ import annotations

import enum

from conversations.accounts.common import (
    MAX_QUERY,
    AccountAction,
    AccountsBackend,
    business_params,
)
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


class PickStep(enum.StrEnum):
    QUERY = "q"
    TAX = "nt"
    NAME = "nn"
    ADDRESS = "na"
    EMAIL = "ne"


_PICK_BACK = {
    PickStep.TAX: PickStep.QUERY,
    PickStep.NAME: PickStep.TAX,
    PickStep.ADDRESS: PickStep.NAME,
    PickStep.EMAIL: PickStep.ADDRESS,
}


class StaffBusinessPicker:
    """Find a business by tax code or name, or create it (then ``draft["e"]`` names it).

    Draft: ``bz`` the sub-step, ``bq`` the last search, ``bn`` the new business's fields.
    Used as the registration's :attr:`~conversations.registration.Step.BUSINESS` step and as
    the first step of a staff member's invitation; ``title`` says which."""

    def __init__(self, backend: AccountsBackend, *, title: str = "acc.pick.title_register"):
        self._backend = backend
        self._title = title

    @staticmethod
    def _sub(t: Turn) -> PickStep:
        return PickStep(t.draft.get("bz", PickStep.QUERY))

    def begin(self, t: Turn) -> None:
        for key in ("bz", "bq", "bn"):
            t.draft.pop(key, None)
        t.draft["bz"] = PickStep.QUERY.value

    async def screen(self, t: Turn) -> Screen:
        sub = self._sub(t)
        if sub is PickStep.QUERY:
            return await self._search_screen(t)
        new: dict[str, str] = t.draft.get("bn", {})
        field = {"nt": "tax", "nn": "name", "na": "addr", "ne": "email"}[sub.value]
        text = Join(
            (
                Msg(self._title),
                Msg(
                    "acc.pick.ask_new",
                    {
                        "field": Msg(f"acc.pick.field.{field}"),
                        "example": Msg(f"acc.pick.example.{field}"),
                        "tax_code": Plain(new.get("tax", "—")),
                    },
                ),
            )
        )
        return Screen(text, (nav(),))

    async def _search_screen(self, t: Turn) -> Screen:
        query = str(t.draft.get("bq", ""))
        lines: list[Param] = [Msg(self._title), Msg("acc.pick.ask_query")]
        rows: list[tuple[Button, ...]] = []
        if query:
            found = await self._backend.search(t.user_id, query)
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
            business = await self._backend.open_business(t.user_id, int(arg))
            self._chosen(t, business, "acc.pick.chosen")
            return True
        if action == AccountAction.NEW_BUSINESS:
            query = normalize_tax_code(str(t.draft.get("bq", "")))
            if is_valid_tax_code(query):
                t.draft["bn"] = {"tax": validate_tax_code(query)}
                t.draft["bz"] = PickStep.NAME.value
            else:
                t.draft["bn"] = {}
                t.draft["bz"] = PickStep.TAX.value
            return False
        raise unexpected()

    async def text(self, t: Turn, text: str) -> bool:
        sub = self._sub(t)
        value = text.strip()
        new: dict[str, str] = dict(t.draft.get("bn", {}))
        if sub is PickStep.QUERY:
            if len(value) < 2:
                raise InvalidInput("query", field="query", reason="search.short", example="0100")
            t.draft["bq"] = value[:MAX_QUERY]
            return False
        if sub is PickStep.TAX:
            code = validate_tax_code(value)
            existing = await self._backend.find_by_tax_code(code)
            if existing is not None:
                self._chosen(t, existing, "acc.pick.exists_chosen")
                return True
            new["tax"] = code
            t.draft["bz"] = PickStep.NAME.value
        elif sub is PickStep.NAME:
            new["name"] = validate_company_name(value)
            t.draft["bz"] = PickStep.ADDRESS.value
        elif sub is PickStep.ADDRESS:
            new["addr"] = validate_address(value)
            t.draft["bz"] = PickStep.EMAIL.value
        else:
            created = await self._backend.create_business(
                CreateBusinessRequest(
                    actor_id=t.user_id,
                    tax_code=new.get("tax", ""),
                    name=new.get("name", ""),
                    address=new.get("addr", ""),
                    email=validate_email(value),
                )
            )
            key = "acc.pick.created" if created.created else "acc.pick.exists_chosen"
            self._chosen(t, created.business, key)
            return True
        t.draft["bn"] = new
        return False

    @staticmethod
    def _chosen(t: Turn, business: BusinessView, key: str) -> None:
        for k in ("bz", "bq", "bn"):
            t.draft.pop(k, None)
        t.draft["e"] = business.id
        t.notice = Msg(key, business_params(business))

    def back(self, t: Turn) -> bool:
        previous = _PICK_BACK.get(self._sub(t))
        if previous is None:
            return False
        t.draft["bz"] = previous.value
        return True
