"""``/refund`` and its buttons, without Telegram or a database: a fake backend, the real engine,
the screens (message keys, buttons) and their texts in both languages; the staff notice's
**✅ Đã hoàn tiền** button and the owners' notice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from conversations.engine import ConversationEngine
from conversations.notices import notice_screen
from conversations.refunds import REFUND_ACTION, REFUND_FLOW, RefundFlow
from conversations.reply import Reply
from conversations.screens import Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from conversations.turn import RegistrationServices
from domain.catalog import Catalog
from domain.errors import DomainError, NotFound, PermissionDenied
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.usecases.refunds import (
    RecordRefundRequest,
    RefundDue,
    RefundNotDue,
    RefundRecorded,
    RefundStatus,
)
from tests.unit.test_payment_flow import RENDERER, NoRegistration, buttons, keys, texts

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
STAFF = 51
ORDER = "DH-2026-000009"
DUE = RefundDue(17, ORDER, 1_320_000, NOW - timedelta(days=2), duplicate=False)
TWICE = RefundDue(23, ORDER, 275_000, NOW - timedelta(days=1), duplicate=True)


@dataclass
class FakeRefunds:
    dues_of: tuple[RefundDue, ...] | DomainError = ()
    recorded: RefundRecorded | DomainError | None = None
    pending_all: tuple[RefundDue, ...] | DomainError = ()
    calls: list[tuple[str, int, str, int | None]] = field(default_factory=list)

    async def pending(self, actor_id: int) -> tuple[RefundDue, ...]:
        self.calls.append(("pending", actor_id, "", None))
        if isinstance(self.pending_all, DomainError):
            raise self.pending_all
        return self.pending_all

    async def dues(self, actor_id: int, order_code: str) -> tuple[RefundDue, ...]:
        self.calls.append(("dues", actor_id, order_code, None))
        if isinstance(self.dues_of, DomainError):
            raise self.dues_of
        return self.dues_of

    async def record(self, req: RecordRefundRequest) -> RefundRecorded:
        self.calls.append(("record", req.actor_id, req.order_code, req.event_id))
        if isinstance(self.recorded, DomainError):
            raise self.recorded
        assert self.recorded is not None
        return self.recorded


async def run(refunds: FakeRefunds, event: Event) -> Reply:
    engine = ConversationEngine(
        catalog=Catalog,
        registration=RegistrationServices.of(NoRegistration()),
        flows={REFUND_FLOW: RefundFlow(refunds)},
        commands={"refund": REFUND_FLOW},
        entries={REFUND_ACTION: REFUND_FLOW},
    )
    session = ChatSession(key="b:1", lang="vi", updated_at=NOW)
    return await engine.handle(session, Actor(user_id=STAFF, chat_id=STAFF), event, NOW)


def command(arg: str) -> Event:
    return Event(EventKind.COMMAND, name="refund", arg=arg)


def press(arg: str) -> Event:
    return Event(EventKind.BUTTON, name=REFUND_ACTION, arg=arg, rev=None)


async def test_the_order_lists_its_dues_with_a_button_for_what_is_still_due() -> None:
    refunded = RefundDue(17, ORDER, 1_320_000, DUE.due_at, False, refunded_at=NOW)
    refunds = FakeRefunds(dues_of=(refunded, TWICE))
    [screen] = (await run(refunds, command(" dh-2026-000009 "))).screens
    assert refunds.calls == [("dues", STAFF, ORDER, None)]
    assert keys(screen.text)[:1] == ["refund.title"]
    assert buttons(screen) == [("btn.refund_confirm", REFUND_ACTION, f"ok.23.{ORDER}", None)]
    vi = texts(screen)["vi"]
    assert "1.320.000" in vi and "đã hoàn ngày 07/12/2026" in vi
    assert "275.000" in vi and "thanh toán trùng" in vi and "chưa hoàn" in vi
    assert "Xác nhận đã hoàn 275.000" in first_label(screen)


def first_label(screen: Screen) -> str:
    """The first button's label as a Vietnamese user reads it."""
    return RENDERER.plain("vi", screen.buttons[0][0].label)


async def test_an_order_with_everything_refunded_or_nothing_due_has_no_button() -> None:
    done = RefundDue(17, ORDER, 1_320_000, DUE.due_at, False, refunded_at=NOW)
    [screen] = (await run(FakeRefunds(dues_of=(done,)), command(ORDER))).screens
    assert "refund.all_done" in keys(screen.text) and buttons(screen) == []
    [screen] = (await run(FakeRefunds(dues_of=()), command(ORDER))).screens
    assert keys(screen.text) == ["refund.none"] and buttons(screen) == []


async def test_the_confirmation_records_the_amount_it_names() -> None:
    recorded = RefundRecorded(RefundStatus.RECORDED, DUE, owners_told=2)
    refunds = FakeRefunds(recorded=recorded)
    [screen] = (await run(refunds, press(f"ok.17.{ORDER}"))).screens
    assert refunds.calls == [("record", STAFF, ORDER, 17)]
    assert keys(screen.text) == ["refund.recorded"]
    assert "1.320.000" in texts(screen)["vi"] and ORDER in texts(screen)["en"]
    untold = FakeRefunds(recorded=RefundRecorded(RefundStatus.RECORDED, DUE))
    [screen] = (await run(untold, press(f"ok.17.{ORDER}"))).screens
    assert keys(screen.text) == ["refund.recorded_untold"]
    again = FakeRefunds(recorded=RefundRecorded(RefundStatus.ALREADY, DUE))
    [screen] = (await run(again, press(f"ok.17.{ORDER}"))).screens
    assert keys(screen.text) == ["refund.already"]


@pytest.mark.parametrize(
    ("error", "key"),
    [
        (PermissionDenied("staff only"), "refund.staff_only"),
        (NotFound("order"), "refund.order_not_found"),
        (RefundNotDue("no"), "refund.not_due"),
    ],
    ids=["not-staff", "unknown-order", "not-due"],
)
async def test_refusals_say_why(error: DomainError, key: str) -> None:
    [screen] = (await run(FakeRefunds(recorded=error), press(f"ok.17.{ORDER}"))).screens
    assert keys(screen.text) == [key]
    texts(screen)  # both languages render


@pytest.mark.parametrize("arg", ["ok.", "ok.x.DH-1", "ok.17.", "ok..DH-1"])
async def test_with_a_forged_button_it_shows_the_usage(arg: str) -> None:
    refunds = FakeRefunds()
    [screen] = (await run(refunds, press(arg))).screens
    assert keys(screen.text) == ["refund.usage"] and refunds.calls == []


def test_the_staff_notice_has_the_refund_button_and_the_owners_do_not() -> None:
    params: dict[str, JsonValue] = {
        "order": ORDER,
        "subscription": "TB-2026-000004",
        "total": 1_320_000,
        "purpose": "RENEWAL",
        "status": "CANCELLED",
        "method": "VNPTPAY",
    }
    staff = notice_screen(
        Notice(NoticeKind.PAYMENT_REFUND_DUE, STAFF, "vi", {**params, "audience": "staff"}),
        Catalog(),
    )
    assert [b[:3] for b in buttons(staff)] == [
        ("btn.refund", REFUND_ACTION, ORDER),
        ("btn.manage_subscriptions", "subs", "TB-2026-000004"),
    ]
    owner = notice_screen(
        Notice(NoticeKind.PAYMENT_REFUND_DUE, 1, "vi", {**params, "audience": "owner"}), Catalog()
    )
    assert [b[1] for b in buttons(owner)] == ["subs"]


def test_the_owners_are_told_of_the_refund() -> None:
    params: dict[str, JsonValue] = {
        "order": ORDER,
        "total": 1_320_000,
        "subscription": "TB-2026-000004",
    }
    screen = notice_screen(Notice(NoticeKind.PAYMENT_REFUNDED, 1, "vi", params), Catalog())
    assert keys(screen.text) == ["refund.notice"]
    said = texts(screen)
    assert "Đã hoàn tiền" in said["vi"] and "1.320.000" in said["vi"] and ORDER in said["en"]
    assert [b[1] for b in buttons(screen)] == ["subs"]
    bare = notice_screen(
        Notice(NoticeKind.PAYMENT_REFUNDED, 1, "vi", {"order": ORDER, "total": 5}), Catalog()
    )
    assert buttons(bare) == []  # a duplicate payment of an order without a subscription


def test_a_duplicate_payment_is_told_to_the_owners_and_to_staff_with_the_refund_button() -> None:
    params: dict[str, JsonValue] = {
        "order": ORDER,
        "total": 275_000,
        "transaction": "TX-9",
        "subscription": "TB-2026-000004",
    }
    staff = notice_screen(
        Notice(NoticeKind.PAYMENT_DUPLICATE, STAFF, "en", {**params, "audience": "staff"}),
        Catalog(),
    )
    assert keys(staff.text) == ["payment_notice.duplicate_staff"]
    assert [b[:3] for b in buttons(staff)] == [
        ("btn.refund", REFUND_ACTION, ORDER),
        ("btn.manage_subscriptions", "subs", "TB-2026-000004"),
    ]
    assert "TX-9" in texts(staff)["vi"] and "275.000" in texts(staff)["vi"]
    owner = notice_screen(
        Notice(NoticeKind.PAYMENT_DUPLICATE, 1, "vi", {**params, "audience": "owner"}), Catalog()
    )
    assert keys(owner.text) == ["payment_notice.duplicate_owner"]
    assert [b[1] for b in buttons(owner)] == ["subs"]
    assert "hoàn lại" in texts(owner)["vi"] and ORDER in texts(owner)["en"]


OTHER = "DH-2026-000011"


@pytest.mark.parametrize("event", [command(""), command("  "), press("")])
async def test_refund_alone_lists_what_is_still_due_with_a_button_per_order(event: Event) -> None:
    later = RefundDue(31, OTHER, 99_000, NOW, duplicate=True)
    refunds = FakeRefunds(pending_all=(later, TWICE, DUE))
    [screen] = (await run(refunds, event)).screens
    assert refunds.calls == [("pending", STAFF, "", None)]
    assert keys(screen.text)[:1] == ["refund.pending_title"]
    assert buttons(screen) == [
        ("btn.refund_open", REFUND_ACTION, OTHER, None),
        ("btn.refund_open", REFUND_ACTION, ORDER, None),
    ]
    vi, en = texts(screen)["vi"], texts(screen)["en"]
    assert vi.index(OTHER) < vi.index("275.000") < vi.index("1.320.000")
    assert "(3, mới nhất trước)" in vi and "99.000" in en and "thanh toán trùng" in vi
    assert OTHER in first_label(screen)


async def test_refund_alone_says_when_nothing_is_due_and_refuses_non_staff() -> None:
    [screen] = (await run(FakeRefunds(), command(""))).screens
    assert keys(screen.text) == ["refund.pending_none"] and buttons(screen) == []
    texts(screen)
    refused = FakeRefunds(pending_all=PermissionDenied("staff only"))
    [screen] = (await run(refused, command(""))).screens
    assert keys(screen.text) == ["refund.staff_only"]
