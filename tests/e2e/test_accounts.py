"""Accounts end to end: the real bot over HTTP against the local Bot API server, a real
database, the sample catalog and (for online payment) the VNPT Pay simulator.

Sign-up at /start then a registration; joining a business (accepted, refused); invitations
(used, reused, expired); a member who cannot register; a support agent registering for a
business (ON: the owner pays, both are told; OS: the agent confirms the cash); forged callbacks;
a shared contact that is not the sender's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.payments_http import IPN_PATH
from domain.model import Role
from domain.usecases.accounts import CreateInvitation, CreateInvitationRequest
from domain.validation import tax_code_check_digit
from sandbox.vnptpay import SimulatorConfig, start_simulator
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import BotHarness

BOT_USERNAME = "onesme_test_bot"  # the local Bot API server's default for the test token
LINK = re.compile(r"https://t\.me/(\w+)\?start=(inv_[A-Za-z0-9_-]+)")


def tax_code(first_nine: str) -> str:
    digit = tax_code_check_digit(first_nine)
    assert digit is not None
    return f"{first_nine}{digit}"


TAX_A = "0100233488"
TAX_B = "0103326250"
TAX_NEW = tax_code("031440905")


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


async def rows(bot: BotHarness, sql: str, **params: Any) -> list[Any]:
    async with bot.database.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


@dataclass(frozen=True)
class Event:
    actor_id: int | None
    enterprise_id: int | None
    details: dict[str, Any]


async def history(bot: BotHarness, action: str) -> list[Event]:
    found = await rows(
        bot,
        "SELECT actor_id, enterprise_id, details FROM history_events WHERE action = :a",
        a=action,
    )
    return [
        Event(
            r.actor_id,
            r.enterprise_id,
            r.details if isinstance(r.details, dict) else json.loads(r.details),
        )
        for r in found
    ]


async def sign_up(
    user: ChatUser,
    tax: str,
    name: str,
    *,
    address: str = "57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội",
    email: str = "ketoan@anbinh.vn",
) -> None:
    await user.send("/start")
    assert "Chia sẻ số điện thoại" in user.last_text()
    await user.share_contact()
    assert "mã số thuế" in user.last_text()
    await user.send(tax)
    assert "tên doanh nghiệp" in user.last_text()
    await user.send(name)
    await user.send(address)
    await user.send(email)
    summary = user.last_text()
    assert name in summary and tax in summary and email in summary
    await user.press("Xác nhận tạo doanh nghiệp")
    assert "Đã tạo doanh nghiệp" in user.last_text()
    assert ["Dịch vụ"] in user.last_buttons()  # the main menu


async def ask_to_join(user: ChatUser, tax: str) -> None:
    await user.send("/start")
    await user.share_contact()
    await user.send(tax)
    assert "đã có trên hệ thống" in user.last_text()
    await user.press("Gửi yêu cầu tham gia")


async def choose(user: ChatUser, service: str, plan: str, cycle: str) -> None:
    await user.send("/services")
    await user.press(service)
    await user.press("Bảng giá")
    await user.press(plan)
    await user.press(cycle, prefix=True)
    await user.press("Đăng ký")


async def through_step_one(user: ChatUser) -> None:
    """No promotion, no add-on: the screens of step 1 up to its summary."""
    for _ in range(6):
        labels = [b for row in user.last_buttons() for b in row]
        if "Tiếp theo" in labels:
            return
        if "Không áp dụng" in labels:
            await user.press("Không áp dụng")
        else:
            await user.press("Xong")
    raise AssertionError(f"step 1 did not end: {user.last_text()}")


async def checkout(user: ChatUser, *, contact_phone: str = "0912345678") -> None:
    """Step 1 summary → step 2 (kept as prefilled) → contact → terms → pay → confirm."""
    await through_step_one(user)
    await user.press("Tiếp theo")
    assert "Thông tin xuất hóa đơn" in user.last_text()
    await user.press("Tiếp theo")
    await user.press("Tiếp theo")
    await user.send("Nguyễn Thị Lan")
    await user.send(contact_phone)
    await user.send("lan@anbinh.vn")
    assert "Xác nhận thông tin đăng ký" in user.last_text()
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    await user.press("Xác nhận")


def forge(bot: BotHarness, user: ChatUser, data: str) -> Any:
    """Press a button carrying ``data`` on the user's newest bot message, as a modified client
    could (the sandbox's public API only presses real buttons)."""
    chat = bot.state.chat(bot.bot_id, user.id)
    assert chat is not None
    user._begin()
    user._action = bot.state._press(
        user.bot, chat, chat.messages[user.last_message().message_id], {"callback_data": data}
    )
    return user._action


@pytest.fixture
async def vnptpay() -> AsyncIterator[Any]:
    config = SimulatorConfig(
        merchant_service_id="ONESME01",
        api_key="sim-api-key",
        secret_key="sim-secret",
        return_url="",
        ipn_url="",
        public_base_url="",
    )
    sim = await start_simulator(config, "127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


def gateway_settings(sim: Any) -> dict[str, Any]:
    return {
        "vnptpay_url": sim.base_url,
        "vnptpay_merchant_service_id": "ONESME01",
        "vnptpay_api_key": "sim-api-key",
        "vnptpay_secret_key": "sim-secret",
    }


# --- sign-up ---------------------------------------------------------------------------------


async def test_sign_up_then_a_full_registration(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = bot.user("Hoa", last_name="Trần", phone_number="+84987654321")
    await sign_up(user, TAX_A, "Công ty TNHH An Bình", email="hoadon@anbinh.vn")

    [(enterprise_id, name, phone, email)] = await rows(
        bot, "SELECT id, name, phone, email FROM enterprises WHERE tax_code = :t", t=TAX_A
    )
    assert (name, phone, email) == ("Công ty TNHH An Bình", "+84987654321", "hoadon@anbinh.vn")
    assert await rows(
        bot,
        "SELECT role FROM memberships WHERE user_id = :u AND enterprise_id = :e",
        u=user.id,
        e=enterprise_id,
    ) == [("owner",)]
    [signed] = await history(bot, "enterprise.signed_up")
    assert (signed.actor_id, signed.enterprise_id) == (user.id, enterprise_id)

    await user.send("/start")  # known now: straight to the menu
    assert user.last_buttons()[0] == ["Dịch vụ"]

    await choose(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    assert "Thanh toán dịch vụ – Bước 1/2" in user.last_text()
    await through_step_one(user)
    await user.press("Tiếp theo")
    invoice = user.last_text()
    assert "Công ty TNHH An Bình" in invoice and TAX_A in invoice and "hoadon@anbinh.vn" in invoice
    await user.press("Tiếp theo")
    await user.press("Tiếp theo")
    await user.send("Trần Thị Hoa")
    await user.share_contact()
    await user.send("hoa@anbinh.vn")
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    await user.press("Xác nhận")
    assert "Đăng ký thành công" in user.last_text()
    [(registered_by, ordered_for)] = await rows(
        bot, "SELECT registered_by, enterprise_id FROM orders"
    )
    assert (registered_by, ordered_for) == (user.id, enterprise_id)


async def test_a_shared_contact_that_is_not_the_senders_own_is_refused(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    user = bot.user("Nam", phone_number="+84912345678")
    await user.send("/start")
    other = bot.user("Bạn của Nam", phone_number="+84987000111")
    await user.send_contact("+84987000111", "Bạn", contact_user_id=other.id)
    assert "của chính bạn" in user.last_text()
    await user.send_contact("+84987000222", "Không dùng Telegram")  # no user id at all
    assert "của chính bạn" in user.last_text()
    assert user.keyboard() is not None  # still asking for the phone
    await user.send("0912345678")  # typing a number is not sharing it either
    assert "Chia sẻ số điện thoại" in user.last_text()
    assert await rows(bot, "SELECT phone FROM users WHERE id = :u", u=user.id) == [(None,)]
    await user.share_contact()
    assert "mã số thuế" in user.last_text()
    await user.send("0100233489")  # wrong check digit
    assert "chữ số kiểm tra" in user.last_text()
    assert await rows(bot, "SELECT id FROM enterprises") == []


# --- joining a business ----------------------------------------------------------------------


async def test_joining_after_the_owner_accepts_and_a_refused_request(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    owner = bot.user("Lan", phone_number="+84912345678")
    await sign_up(owner, TAX_A, "Công ty TNHH An Bình")

    staff = bot.user("Minh", last_name="Phạm", phone_number="+84987654321")
    await ask_to_join(staff, TAX_A)
    assert "Đã gửi yêu cầu tham gia" in staff.last_text()
    ask = await owner.wait_for_text("muốn tham gia")
    assert "Minh Phạm" in (ask.text or "") and "098 765 4321" in (ask.text or "")
    assert ask.labels == [["Chấp nhận", "Từ chối"]]
    await staff.send("/start")  # still waiting
    assert "đang chờ chủ doanh nghiệp duyệt" in staff.last_text()

    await owner.press("Chấp nhận", message_id=ask.message_id)
    assert "Đã chấp nhận" in owner.last_text()
    await staff.wait_for_text("đã được chấp nhận")
    [(enterprise_id,)] = await rows(bot, "SELECT id FROM enterprises")
    assert await rows(bot, "SELECT role FROM memberships WHERE user_id = :u", u=staff.id) == [
        ("member",)
    ]
    await staff.send("/start")
    assert staff.last_buttons()[0] == ["Dịch vụ"]

    stranger = bot.user("Tú", phone_number="+84987000333")
    await ask_to_join(stranger, TAX_A)
    second = await owner.wait_for_text("Tú")
    await owner.press("Từ chối", message_id=second.message_id)
    assert "Đã từ chối" in owner.last_text()
    await stranger.wait_for_text("đã bị từ chối")
    assert await rows(bot, "SELECT 1 FROM memberships WHERE user_id = :u", u=stranger.id) == []

    await owner.press("Từ chối", message_id=ask.message_id)  # a second answer changes nothing
    assert "đã được chấp nhận trước đó" in owner.last_text()
    assert await rows(bot, "SELECT role FROM memberships WHERE user_id = :u", u=staff.id) == [
        ("member",)
    ]
    assert len(await history(bot, "join.requested")) == 2
    [accepted] = await history(bot, "join.accepted")
    assert (accepted.actor_id, accepted.enterprise_id) == (owner.id, enterprise_id)
    assert len(await history(bot, "join.refused")) == 1


# --- invitations and members -------------------------------------------------------------------


async def test_an_invitation_used_reused_and_expired(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner = bot.user("Lan", phone_number="+84912345678")
    await sign_up(owner, TAX_A, "Công ty TNHH An Bình")
    await owner.send("/invite")
    await owner.tap("🔗 Tạo liên kết mời")
    shown = owner.last_text()
    match = LINK.search(shown)
    assert match is not None, shown
    assert match.group(1) == BOT_USERNAME
    assert "Nhân viên" in shown and "một lần" in shown
    share = [b for b in owner.last_message().flat_buttons if b.url]
    assert share and share[0].url is not None and share[0].url.startswith("https://t.me/share/")
    start_arg = match.group(2)

    invitee = bot.user("Bình")
    await invitee.send(f"/start {start_arg}")
    assert "Bạn đã tham gia doanh nghiệp" in invitee.last_text()
    assert "Nhân viên" in invitee.last_text()
    await owner.wait_for_text("đã dùng liên kết mời")
    assert await rows(bot, "SELECT role FROM memberships WHERE user_id = :u", u=invitee.id) == [
        ("member",)
    ]

    latecomer = bot.user("Cường")
    await latecomer.send(f"/start {start_arg}")
    assert "đã được sử dụng" in latecomer.last_text()
    assert "An Bình" not in latecomer.last_text()
    assert await rows(bot, "SELECT 1 FROM memberships WHERE user_id = :u", u=latecomer.id) == []

    [(enterprise_id,)] = await rows(bot, "SELECT id FROM enterprises")
    long_ago = FixedClock(datetime.now(UTC) - timedelta(days=8))
    old = await CreateInvitation(bot._uow, long_ago)(
        CreateInvitationRequest(owner.id, enterprise_id, Role.MEMBER)
    )
    await latecomer.send(f"/start inv_{old.token}")
    assert "đã hết hạn" in latecomer.last_text()
    await latecomer.send("/start inv_not-a-real-token")
    assert "không hợp lệ" in latecomer.last_text()
    assert await rows(bot, "SELECT 1 FROM memberships WHERE user_id = :u", u=latecomer.id) == []

    reasons = sorted(r.details["reason"] for r in await history(bot, "invitation.refused"))
    assert reasons == ["expired", "invalid", "used"]
    assert len(await history(bot, "invitation.used")) == 1


async def test_an_owner_picks_the_employee_to_invite_in_telegram(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner = bot.user("Lan", phone_number="+84912345678")
    await sign_up(owner, TAX_A, "Công ty TNHH An Bình")
    employee = bot.user("Bình", username="binh_ketoan")
    await employee.send("/start")  # uses the bot: the invitation can be sent to them
    await employee.send("/cancel")
    await owner.send("/invite")
    assert "Mời nhân viên vào Công ty TNHH An Bình" in owner.last_text()
    keyboard = bot.state.current_keyboard(owner.id, bot=bot.bot_id) or ()
    [[pick], *_] = keyboard
    assert pick.kind == "request_users" and pick.text == "👤 Chọn nhân viên trong Telegram"
    assert ["🔗 Tạo liên kết mời"] in (owner.keyboard() or [])

    # a stale or forged pick (another request id) changes nothing
    await owner.share_users(employee, request_id=999_999, forged=True)
    assert "màn hình cũ" in owner.last_text()
    assert await rows(bot, "SELECT 1 FROM invitations") == []

    await owner.share_users(employee)
    shown = owner.last_text()
    assert "Đã gửi lời mời tới Bình" in shown
    assert LINK.search(shown) is not None, shown  # the link too, to send another way
    urls = [b.url for b in owner.last_message().flat_buttons if b.url]
    assert "https://t.me/binh_ketoan" in urls
    assert not owner.keyboard()  # the reply keyboard was taken away

    invited = await employee.wait_for_text("mời bạn tham gia doanh nghiệp")
    assert "Công ty TNHH An Bình" in (invited.text or "") and "Nhân viên" in (invited.text or "")
    # the link in other hands (forwarded, seen over a shoulder): refused, it says nothing of
    # the business, and the invitation stays the employee's
    [(_, start_arg)] = LINK.findall(shown)
    other = bot.user("Dũng")
    await other.send(f"/start {start_arg}")
    assert "dành cho người khác" in other.last_text()
    assert "An Bình" not in other.last_text() and "Nhân viên" not in other.last_text()
    forge(bot, other, f"f:0:ivj:{start_arg}")  # the employee's button, pressed by another
    await other.wait_for_text("dành cho người khác")
    assert await rows(bot, "SELECT 1 FROM memberships WHERE user_id = :u", u=other.id) == []
    assert await rows(bot, "SELECT used_by, invitee_id FROM invitations") == [(None, employee.id)]
    await employee.press("✅ Tham gia doanh nghiệp")
    assert "Bạn đã tham gia doanh nghiệp" in employee.last_text()
    assert await rows(bot, "SELECT role FROM memberships WHERE user_id = :u", u=employee.id) == [
        ("member",)
    ]
    await owner.wait_for_text("đã dùng liên kết mời")
    # the same button again (stale), and a forged token: refused, nothing changes
    await employee.press("✅ Tham gia doanh nghiệp", message_id=invited.message_id)
    assert "đã được sử dụng" in employee.last_text()
    forge(bot, employee, "f:0:ivj:inv_forged-token")
    await employee.wait_for_text("không hợp lệ")
    assert await rows(
        bot, "SELECT count(*) FROM memberships WHERE user_id = :u", u=employee.id
    ) == [(1,)]

    # someone who never wrote to the bot: the owner gets the link to send them
    newcomer = bot.user("Chi")
    await owner.send("/invite")
    await owner.share_users(newcomer)
    assert "Liên kết mời dành cho Chi" in owner.last_text()
    assert LINK.search(owner.last_text()) is not None
    [(_, for_newcomer)] = LINK.findall(owner.last_text())
    # the pick again, once the flow has ended: nothing is created
    await owner.share_users(newcomer, request_id=pick.request_id or 0, forged=True)
    assert await rows(bot, "SELECT count(*) FROM invitations") == [(2,)]
    created = await history(bot, "invitation.created")
    assert [(e.details.get("invitee_id"), e.details.get("delivered")) for e in created] == [
        (employee.id, True),
        (newcomer.id, False),
    ]
    # the employee cannot use the newcomer's link either; the newcomer can
    await employee.send(f"/start {for_newcomer}")
    assert "dành cho người khác" in employee.last_text()
    await newcomer.send(f"/start {for_newcomer}")
    assert "Bạn đã tham gia doanh nghiệp" in newcomer.last_text()
    reasons = [r.details["reason"] for r in await history(bot, "invitation.refused")]
    assert reasons == ["not_invitee", "not_invitee", "used", "invalid", "not_invitee"]


async def test_a_member_cannot_register_or_invite(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner = bot.user("Lan", phone_number="+84912345678")
    await sign_up(owner, TAX_A, "Công ty TNHH An Bình")
    await owner.send("/invite")
    await owner.tap("🔗 Tạo liên kết mời")
    match = LINK.search(owner.last_text())
    assert match is not None
    member = bot.user("Bình")
    await member.send(f"/start {match.group(2)}")

    await choose(member, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    answer = member.last_callback_answer()
    assert answer is not None and answer.show_alert and "chưa có quyền" in (answer.text or "")
    assert "Bước 1/2" not in member.last_text()
    await member.send("/invite")
    assert "Chỉ chủ doanh nghiệp" in member.last_text()
    assert await rows(bot, "SELECT 1 FROM invitations WHERE created_by = :u", u=member.id) == []
    assert await rows(bot, "SELECT 1 FROM orders") == []


# --- support agents ----------------------------------------------------------------------------


async def test_an_agent_registers_an_on_service_the_owner_pays_and_both_are_told(
    bot_factory: BotFactory, vnptpay: Any
) -> None:
    bot = await bot_factory("polling", settings=gateway_settings(vnptpay))
    vnptpay.config.ipn_url = bot.http_url + IPN_PATH
    owner = bot.user("Lan", phone_number="+84912345678")
    await sign_up(owner, TAX_A, "Công ty TNHH An Bình")
    agent = bot.user("Hỗ trợ", last_name="Viên", phone_number="+84987654321")
    await bot.grant(agent.id, "agent")
    await agent.send("/start")
    assert agent.last_buttons()[0] == ["Dịch vụ"]

    await choose(agent, "VNPT SmartCA", "Gói Cá nhân", "12 tháng")
    assert "Đăng ký hộ doanh nghiệp" in agent.last_text()
    await agent.send("An Bình")  # search by name
    await agent.press(f"Công ty TNHH An Bình ({TAX_A})")
    chosen = agent.last_callback_answer()
    assert chosen is not None and "Đã chọn doanh nghiệp" in (chosen.text or "")
    assert "Thanh toán dịch vụ – Bước 1/2" in agent.last_text()
    await checkout(agent)

    assert any(m.photo is not None for m in agent.bot_messages()[-3:])  # the QR code
    agent_pay = [b.url for m in agent.bot_messages()[-3:] for b in m.flat_buttons if b.url]
    assert agent_pay and agent_pay[0] is not None
    assert agent_pay[0].startswith(vnptpay.base_url)
    await agent.wait_for_text("Đã gửi thông tin đơn hàng cho 1 chủ doanh nghiệp")

    notice = await owner.wait_for_text("đã đăng ký dịch vụ")
    assert "Hỗ trợ Viên" in (notice.text or "") and "VNPT SmartCA" in (notice.text or "")
    owner_pay = [b.url for b in notice.flat_buttons if b.url]
    assert owner_pay == agent_pay[:1]  # the same payment link
    await owner.wait_for(lambda: owner.last_message().photo is not None)

    [order] = await rows(bot, "SELECT id, code, registered_by, status FROM orders")
    assert order.registered_by == agent.id
    [placed] = await history(bot, "agent.order_placed")
    assert placed.actor_id == agent.id

    # the owner pays through the simulator (the same effect as the payment page)
    [(moid,)] = await rows(
        bot, "SELECT merchant_order_id FROM payment_attempts WHERE order_id = :o", o=order.id
    )
    async with httpx.AsyncClient(base_url=vnptpay.base_url, timeout=15.0) as http:
        paid = await http.post(f"/_sim/pay/{moid}", json={"method": "wallet"})
        assert paid.status_code == 200, paid.text
    for person in (owner, agent):
        done = await person.wait_for_text("Đăng ký thành công", timeout=10)
        assert order.code in (done.text or "")
    assert await rows(bot, "SELECT status FROM orders") == [("PAID",)]


async def test_an_agent_creates_a_business_registers_an_os_service_and_confirms_cash(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    agent = bot.user("Đại", last_name="Lý")
    await bot.grant(agent.id, "agent")
    await choose(agent, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    await agent.send(TAX_NEW)
    assert "Không tìm thấy doanh nghiệp" in agent.last_text()
    await agent.press("➕ Tạo doanh nghiệp mới")
    assert "tên doanh nghiệp" in agent.last_text()  # the searched tax code is kept
    await agent.send("Công ty CP Cà phê Sáng")
    await agent.send("12 Lê Lợi, Quận 1, TP Hồ Chí Minh")
    await agent.send("ketoan@caphesang.vn")
    assert "Đã tạo doanh nghiệp" in agent.last_text()
    assert "Thanh toán dịch vụ – Bước 1/2" in agent.last_text()
    await checkout(agent)
    success = await agent.wait_for_text("Đăng ký thành công")
    assert "chờ thu tiền" in (success.text or "")
    assert "chưa có chủ sử dụng Telegram" in agent.last_text()
    [(sub_code, sub_status)] = await rows(bot, "SELECT code, status FROM subscriptions")
    assert sub_status == "FUTURE" and f"/cash {sub_code}" in agent.last_text()
    [(registered_by,)] = await rows(bot, "SELECT registered_by FROM orders")
    assert registered_by == agent.id
    [added] = await history(bot, "enterprise.added")
    assert added.actor_id == agent.id

    await agent.press("Xác nhận đã thu tiền mặt")
    await agent.wait_for(lambda: "tiền mặt" in agent.last_text() and sub_code in agent.last_text())
    assert await rows(bot, "SELECT status FROM orders") == [("PAID",)]

    # the agent then invites the business's first owner, who joins through the link
    await agent.send("/invite")
    await agent.send(TAX_NEW)
    await agent.press(f"Công ty CP Cà phê Sáng ({TAX_NEW})")
    await agent.press("Chủ doanh nghiệp")
    match = LINK.search(agent.last_text())
    assert match is not None and "Chủ doanh nghiệp" in agent.last_text()
    first_owner = bot.user("Sáng")
    await first_owner.send(f"/start {match.group(2)}")
    assert "Chủ doanh nghiệp" in first_owner.last_text()
    assert await rows(bot, "SELECT role FROM memberships WHERE user_id = :u", u=first_owner.id) == [
        ("owner",)
    ]
    await agent.send("/invite")  # a second owner invitation is refused: it has an owner now
    await agent.send(TAX_NEW)
    await agent.press(f"Công ty CP Cà phê Sáng ({TAX_NEW})")
    await agent.press("Chủ doanh nghiệp")
    assert "không thể tạo liên kết mời" in agent.last_text()
    assert len(await history(bot, "access.refused")) == 1


# --- forged callbacks ----------------------------------------------------------------------------


async def test_forged_callbacks_are_refused_and_reveal_nothing(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner_a = bot.user("An", phone_number="+84912345678")
    await sign_up(owner_a, TAX_A, "Công ty TNHH Bí Mật A", email="ketoan@bimat-a.vn")
    await choose(owner_a, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    await checkout(owner_a)
    await owner_a.wait_for_text("Đăng ký thành công")
    [(order_code, total)] = await rows(bot, "SELECT code, total FROM orders")
    [(sub_id, sub_code)] = await rows(bot, "SELECT id, code FROM subscriptions")
    joiner = bot.user("Khách", phone_number="+84987000333")
    await ask_to_join(joiner, TAX_A)
    [(request_id,)] = await rows(bot, "SELECT id FROM join_requests")

    attacker = bot.user("Kẻ", last_name="Gian", phone_number="+84987654321")
    await sign_up(attacker, TAX_B, "Công ty TNHH B")
    secrets = ("Bí Mật A", TAX_A, "bimat-a", "Khách", "098 700 0333", "0987000333")
    money = f"{total:,}".replace(",", ".")

    forged = [
        f"f:0:jr:a{request_id}",  # accept another business's join request
        f"f:0:jr:r{request_id}",
        "f:0:jr:a987654",  # a request that does not exist
        "f:0:jr:zz",  # garbage arguments
        f"f:0:subs:{sub_code}",  # open another business's subscription (an entry button)
        f"f:0:subs:{sub_id}",
        "f:0:repay:DH-2099-999999",  # an order that does not exist
        f"f:0:repay:{order_code}",  # another business's order
        f"f:0:cash:{sub_code}",  # cash for another business's subscription, not staff
        f"f:0:bz:{sub_id}",  # a staff-only button outside its flow
        "garbage:data",
        "f:x:y",
    ]
    for data in forged:
        forge(bot, attacker, data)
        await attacker.settle()
        answer = attacker.last_callback_answer()
        seen = " ".join([attacker.last_text(), (answer.text or "") if answer is not None else ""])
        for secret in (*secrets, money, sub_code):
            assert secret not in seen, (data, secret, seen)

    # inside the attacker's own subscription list, with the current rev: A's subscription id
    await attacker.send("/subscriptions")
    current = [b.callback_data for b in attacker.last_message().flat_buttons if b.callback_data]
    assert current, attacker.last_text()
    rev = current[0].split(":")[1]
    for data in (f"f:{rev}:open:{sub_id}", f"f:{rev}:open:999999", f"f:{rev}:open:x"):
        forge(bot, attacker, data)
        await attacker.settle()
        answer = attacker.last_callback_answer()
        seen = " ".join([attacker.last_text(), (answer.text or "") if answer is not None else ""])
        for secret in (*secrets, money, sub_code):
            assert secret not in seen, (data, secret, seen)
    assert bot.state.unanswered_callback_queries() == []

    assert await rows(bot, "SELECT status FROM join_requests") == [("PENDING",)]
    assert await rows(bot, "SELECT 1 FROM memberships WHERE user_id = :u", u=joiner.id) == []
    assert await rows(bot, "SELECT status FROM orders") == [("PENDING_PAYMENT",)]
    assert await rows(bot, "SELECT 1 FROM payment_attempts") == []  # no retry was started
    refused = await history(bot, "access.refused")
    assert {r.actor_id for r in refused} == {attacker.id}
    assert sorted(r.details["reason"] for r in refused if r.details["what"] == "join_request") == [
        "not_found",
        "not_permitted",
        "not_permitted",
    ]
