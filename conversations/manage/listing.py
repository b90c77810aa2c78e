"""The subscription list (paged newest first, a status filter; staff type a tax code to reach
any business) and the filter's choices."""

from __future__ import annotations

from conversations.kit import unexpected
from conversations.manage.context import (
    BADGES,
    Ctx,
    StepSpec,
    int_arg,
    offset_arg,
    page_line,
    paging,
)
from conversations.manage.detail import open_subscription
from conversations.manage.draft import LIST_PAGE, Action, Step
from conversations.manage.forms import invalid
from conversations.screens import Button, ButtonStyle, Join, Msg, Param, Plain, Screen
from domain.errors import InvalidInput, NotFound
from domain.model import Subscription, SubscriptionStatus
from domain.usecases.manage import ListRequest, TabRequest


async def pick_business(c: Ctx, tax_code: str) -> None:
    found = await c.backend.subscriptions(
        ListRequest(actor_id=c.t.user_id, tax_code=tax_code, limit=1)
    )
    if found.enterprises:
        c.d.business = int(found.enterprises[0].id)
        c.d.offset = 0


async def tax_code_typed(c: Ctx, text: str) -> None:
    """Staff type a tax code at the list to see that business's subscriptions (others may
    pick one of their own businesses the same way)."""
    if not any(ch.isdigit() for ch in text):
        c.t.notice = Msg("manage.use_buttons")
        return
    try:
        await pick_business(c, text)
    except InvalidInput as exc:
        invalid(c, exc)
    except NotFound:
        c.t.notice = Msg("manage.list.tax_not_found", {"tax_code": Plain(text.strip())})


def _request(c: Ctx) -> ListRequest:
    status = c.d.status_filter
    return ListRequest(
        actor_id=c.t.user_id,
        enterprise_id=c.d.business,
        statuses=(status,) if status else (),
        offset=c.d.offset or 0,
        limit=LIST_PAGE,
    )


async def draw_list(c: Ctx) -> Screen:
    result = await c.backend.subscriptions(_request(c))
    parts: list[Param] = [Msg("manage.list.title")]
    for ent in result.enterprises:
        parts.append(
            Msg(
                "manage.list.enterprise",
                {"name": Plain(ent.name), "tax_code": Plain(ent.tax_code)},
            )
        )
    status = c.d.status_filter
    if result.enterprises:
        parts.append(
            Msg(
                "manage.list.filter",
                {
                    "filter": Msg(f"manage.status.{status.value}") if status else Msg("manage.all"),
                    "total": result.page.total,
                },
            )
        )
    rows: list[tuple[Button, ...]] = []
    if result.needs_tax_code:
        parts.append(Msg("manage.list.ask_tax"))
    elif not result.enterprises:
        parts.append(Msg("manage.list.no_enterprise"))
    elif not result.page.items:
        parts.append(Msg("manage.list.empty_filtered" if status else "manage.list.empty"))
    items: list[Button] = []
    for n, sub in enumerate(result.page.items, start=result.page.offset + 1):
        parts.append(_list_item(c, n, sub))
        items.append(
            Button(
                Plain(f"{BADGES.get(sub.status, '⚪')} {sub.code}"),
                action=Action.OPEN,
                arg=str(int(sub.id)),
            )
        )
    rows.extend(tuple(items[i : i + 2]) for i in range(0, len(items), 2))
    pager = paging(result.page, Action.PAGE)
    if pager:
        rows.append(pager)
    parts.append(page_line(result.page))
    if result.is_staff and not result.needs_tax_code:
        parts.append(Msg("manage.list.staff_hint"))
    if result.enterprises:
        rows.append((Button(Msg("manage.btn.filter"), action=Action.FILTER),))
    rows.append((Button(Msg("btn.back"), action="menu", arg="manage"),))
    return Screen(Join(tuple(parts)), tuple(rows))


def _list_item(c: Ctx, n: int, sub: Subscription) -> Msg:
    service, plan, _ = c.names(sub)
    return Msg(
        "manage.list.item",
        {
            "n": n,
            "badge": BADGES.get(sub.status, "⚪"),
            "code": Plain(sub.code),
            "service": Plain(service),
            "plan": Plain(plan),
            "status": Msg(f"manage.status.{sub.status.value}"),
        },
    )


async def open_from_list(c: Ctx, arg: str) -> None:
    view = await c.backend.overview(TabRequest(actor_id=c.t.user_id, subscription_id=int_arg(arg)))
    open_subscription(c, view.subscription.id)


async def turn_page(c: Ctx, arg: str) -> None:
    c.d.offset = offset_arg(arg)


async def show_filter(c: Ctx, arg: str) -> None:
    c.d.step = Step.FILTER


async def draw_filter(c: Ctx) -> Screen:
    current = c.d.status_filter.value if c.d.status_filter else ""
    options: list[tuple[str, Msg]] = [("", Msg("manage.all"))]
    options += [(s.value, Msg(f"manage.status.{s.value}")) for s in SubscriptionStatus]
    rows = tuple(
        (
            Button(
                label,
                action=Action.SET_FILTER,
                arg=value,
                style=ButtonStyle.CHECKED if value == current else ButtonStyle.NORMAL,
            ),
        )
        for value, label in options
    )
    back = (Button(Msg("btn.back"), action=Action.BACK),)
    return Screen(Msg("manage.filter.title"), (*rows, back))


async def set_filter(c: Ctx, arg: str) -> None:
    if arg and arg not in {s.value for s in SubscriptionStatus}:
        raise unexpected()
    c.d.status_filter = SubscriptionStatus(arg) if arg else None
    c.d.offset = 0
    c.d.step = Step.LIST


async def back_to_list(c: Ctx, arg: str) -> None:
    c.d.step = Step.LIST


STEPS: dict[Step, StepSpec] = {
    Step.LIST: StepSpec(
        draw_list,
        {Action.OPEN: open_from_list, Action.PAGE: turn_page, Action.FILTER: show_filter},
        text=tax_code_typed,
    ),
    Step.FILTER: StepSpec(draw_filter, {Action.SET_FILTER: set_filter, Action.BACK: back_to_list}),
}
