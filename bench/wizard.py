"""The wizard the two bare bots play: the same shape as the product's registration flow.

Eighteen updates per user: ``/services`` (a new message), eleven buttons that edit that
message (service, Bảng giá, plan, cycle, Đăng ký, plan promotion, add-ons, invoice promotion,
step-1 summary, invoice info, customer info), three typed answers (contact name, phone,
e-mail, each answered with a new message), then three buttons (terms, Thanh toán, Xác nhận).
Labels are the product's, so one user script drives every bot (:data:`SCRIPT`).

Screens are plain data (text, rows of ``(label, callback_data)``) so the aiogram and the
python-telegram-bot bots render exactly the same messages. ``callback_data`` is
``w:<action>:<value>``, what aiogram's ``CallbackData`` with prefix ``w`` packs.
"""

from __future__ import annotations

import html
import re
from typing import Any

Rows = list[list[tuple[str, str]]]
Screen = tuple[str, Rows]

#: one user's actions: ("send", text) | ("press", label) | ("prefix", label start)
SCRIPT: tuple[tuple[str, str], ...] = (
    ("send", "/services"),
    ("press", "Wifi doanh nghiệp"),
    ("press", "Bảng giá"),
    ("press", "Gói Văn phòng nhỏ"),
    ("prefix", "1 tháng"),
    ("press", "Đăng ký"),
    ("press", "Không áp dụng"),
    ("press", "Xong"),
    ("press", "Không áp dụng"),
    ("press", "Tiếp theo"),
    ("press", "Tiếp theo"),
    ("press", "Tiếp theo"),
    ("send", "Nguyễn Thị Lan"),
    ("send", "0912345678"),
    ("send", "lan.nguyen@anbinh.vn"),
    ("prefix", "⬜ Đồng ý"),
    ("press", "Thanh toán"),
    ("press", "Xác nhận"),
)

#: the step whose draft is fullest: the state size is read after this many actions
PROBE_STEPS = 16

SERVICES = {
    "SMARTCA": ("VNPT SmartCA", "Chữ ký số từ xa"),
    "INVOICE": ("VNPT Invoice – Hóa đơn điện tử", "Hóa đơn điện tử theo Nghị định 123"),
    "ECONTRACT": ("VNPT eContract – Hợp đồng điện tử", "Ký hợp đồng trực tuyến"),
    "WIFI": ("Wifi doanh nghiệp", "Internet tốc độ cao cho văn phòng"),
}
PLANS = {
    "S": ("Gói Văn phòng nhỏ", 350_000),
    "M": ("Gói Văn phòng vừa", 650_000),
    "L": ("Gói Doanh nghiệp", 1_200_000),
}
CYCLES = {"1": "1 tháng", "6": "6 tháng", "12": "12 tháng"}
ADDONS = {"IP": ("IP tĩnh", 100_000), "CAM": ("Camera giám sát", 150_000)}
PLAN_PROMO = ("KM10", "Giảm 10% gói cước", 10)
INVOICE_PROMO = ("KM5", "Giảm 5% tổng đơn hàng", 5)
TERMS = "Đồng ý với Điều khoản đăng ký dịch vụ"
PHONE = re.compile(r"^(\+84|0)\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + "\u00a0₫"


def _nav() -> list[tuple[str, str]]:
    return [("Quay lại", "w:back:"), ("Hủy", "w:cancel:")]


def services() -> Screen:
    rows: Rows = [[(name, f"w:svc:{code}")] for code, (name, _) in SERVICES.items()]
    return "<b>Dịch vụ</b>\nChọn một dịch vụ để xem chi tiết.", rows


def details(data: dict[str, Any]) -> Screen:
    name, description = SERVICES[data["service"]]
    text = f"<b>{html.escape(name)}</b>\n{html.escape(description)}"
    return text, [[("Bảng giá", "w:prices:")], _nav()]


def plans(data: dict[str, Any]) -> Screen:
    rows: Rows = [[(name, f"w:plan:{code}")] for code, (name, _) in PLANS.items()]
    return f"<b>Bảng giá</b> – {html.escape(SERVICES[data['service']][0])}", [*rows, _nav()]


def _price(data: dict[str, Any], cycle: str) -> int:
    return PLANS[data["plan"]][1] * int(cycle)


def cycles(data: dict[str, Any]) -> Screen:
    rows: Rows = [
        [(f"{label} – {money(_price(data, code))}", f"w:cycle:{code}")]
        for code, label in CYCLES.items()
    ]
    return f"<b>{html.escape(PLANS[data['plan']][0])}</b>\nChọn chu kỳ thanh toán.", [
        *rows,
        _nav(),
    ]


def chosen(data: dict[str, Any]) -> Screen:
    text = (
        f"<b>{html.escape(PLANS[data['plan']][0])}</b> – {CYCLES[data['cycle']]}\n"
        f"Giá: {money(_price(data, data['cycle']))}"
    )
    return text, [[("Đăng ký", "w:register:")], _nav()]


def plan_promo(data: dict[str, Any]) -> Screen:
    code, name, _ = PLAN_PROMO
    text = "<b>Thanh toán dịch vụ – Bước 1/2</b>\nChọn khuyến mại cho gói cước."
    return text, [[(name, f"w:ppromo:{code}")], [("Không áp dụng", "w:ppromo:")], _nav()]


def addons(data: dict[str, Any]) -> Screen:
    ticked = data.get("addons", [])
    rows: Rows = [
        [(("✅ " if code in ticked else "⬜ ") + name, f"w:addon:{code}")]
        for code, (name, _) in ADDONS.items()
    ]
    text = "<b>Thanh toán dịch vụ – Bước 1/2</b>\nChọn dịch vụ bổ sung."
    return text, [*rows, [("Xong", "w:addons_done:")], _nav()]


def invoice_promo(data: dict[str, Any]) -> Screen:
    code, name, _ = INVOICE_PROMO
    text = "<b>Thanh toán dịch vụ – Bước 1/2</b>\nChọn khuyến mại cho đơn hàng."
    return text, [[(name, f"w:ipromo:{code}")], [("Không áp dụng", "w:ipromo:")], _nav()]


def total(data: dict[str, Any]) -> int:
    amount = _price(data, data["cycle"])
    if data.get("plan_promo"):
        amount -= amount * PLAN_PROMO[2] // 100
    amount += sum(ADDONS[a][1] * int(data["cycle"]) for a in data.get("addons", []))
    if data.get("invoice_promo"):
        amount -= amount * INVOICE_PROMO[2] // 100
    return amount + amount // 10  # VAT 10%


def summary(data: dict[str, Any]) -> Screen:
    lines = [
        "<b>Thanh toán dịch vụ – Bước 1/2</b>",
        f"{html.escape(PLANS[data['plan']][0])}: {money(_price(data, data['cycle']))}",
        *(f"{ADDONS[a][0]}: {money(ADDONS[a][1])}" for a in data.get("addons", [])),
        f"Tổng thanh toán: {money(total(data))}",
    ]
    return "\n".join(lines), [[("Tiếp theo", "w:next:")], _nav()]


def invoice_info(data: dict[str, Any]) -> Screen:
    text = (
        "<b>Thanh toán dịch vụ – Bước 2/2</b>\n<b>Thông tin xuất hóa đơn</b>\n"
        "Công ty TNHH An Bình\nMST: 0100233488\n57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội\n"
        "ketoan@anbinh.vn"
    )
    return text, [[("Sửa thông tin", "w:edit:")], [("Tiếp theo", "w:next:")], _nav()]


def customer_info(data: dict[str, Any]) -> Screen:
    text = "<b>Thông tin khách hàng</b>\nCông ty TNHH An Bình\n+84 912 345 678"
    return text, [[("Sửa thông tin", "w:edit:")], [("Tiếp theo", "w:next:")], _nav()]


def ask(field: str) -> Screen:
    prompts = {
        "name": "Nhập họ và tên người liên hệ:",
        "phone": "Nhập số điện thoại di động của người liên hệ:",
        "email": "Nhập email của người liên hệ:",
    }
    return f"<b>Thông tin người liên hệ</b>\n{prompts[field]}", []


def invalid(field: str) -> Screen:
    return f"Giá trị không hợp lệ ({field}). Vui lòng nhập lại:", []


def final(data: dict[str, Any]) -> Screen:
    contact = data["contact"]
    text = (
        "<b>Xác nhận thông tin đăng ký</b>\n"
        f"{html.escape(PLANS[data['plan']][0])} – {CYCLES[data['cycle']]}\n"
        f"Người liên hệ: {html.escape(contact['name'])}, {html.escape(contact['phone'])}, "
        f"{html.escape(contact['email'])}\nTổng thanh toán: {money(total(data))}"
    )
    mark = "✅ " if data.get("terms") else "⬜ "
    rows: Rows = [[(mark + TERMS, "w:terms:")], [("Thanh toán", "w:pay:")], _nav()]
    return text, rows


def confirm(data: dict[str, Any]) -> Screen:
    text = f"<b>Xác nhận thanh toán</b>\nTổng thanh toán: {money(total(data))}"
    return text, [[("Xác nhận", "w:confirm:")], _nav()]


def done(data: dict[str, Any], code: str) -> Screen:
    return f"<b>Đăng ký thành công</b>\nMã thuê bao: {code}\nThanh toán tiền mặt.", []


def cancelled() -> Screen:
    return "Đã hủy.", []
