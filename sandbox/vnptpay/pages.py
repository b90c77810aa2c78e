"""The payer's pages: plain HTML and inline CSS, Vietnamese, no external resources.

In each form the main button comes first in the markup (pressing Enter submits the first
button, which must never be **Hủy**); CSS shows it on the right.
"""

from __future__ import annotations

from html import escape

METHODS = {
    "wallet": "Ví VNPT Pay",
    "atm": "Thẻ ATM nội địa",
    "intl": "Thẻ thanh toán quốc tế",
}

RESULT_TITLES = {
    "00": "Thanh toán thành công",
    "01": "Giao dịch bị từ chối",
    "70": "Giao dịch đã bị hủy",
}

_CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
background:#eef2f7;color:#1f2937}
header{background:#0057a8;color:#fff;padding:14px 20px;font-weight:700;font-size:20px}
header span{font-weight:400;font-size:14px;opacity:.85;margin-left:8px}
main{max-width:560px;margin:24px auto;padding:0 16px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.08);padding:20px;
margin-bottom:16px}
h1{font-size:18px;margin:0 0 14px}
table{width:100%;border-collapse:collapse}
td{padding:7px 0;border-bottom:1px solid #eef0f3;vertical-align:top}
td:first-child{color:#6b7280;width:42%}
.amount{font-weight:700;color:#0057a8;font-size:18px}
label.method{display:flex;align-items:center;gap:10px;border:1px solid #d1d5db;
border-radius:8px;padding:12px;margin-bottom:10px;cursor:pointer}
label.method:hover{border-color:#0057a8}
.field{margin-bottom:12px}
.field label{display:block;font-size:14px;color:#374151;margin-bottom:4px}
.field input{width:100%;padding:10px;border:1px solid #d1d5db;border-radius:6px;font-size:15px}
.row{display:flex;gap:12px}.row .field{flex:1}
.actions{display:flex;flex-direction:row-reverse;gap:10px;margin-top:16px}
button{flex:1;padding:11px;border:0;border-radius:6px;font-size:15px;cursor:pointer}
button.primary{background:#0057a8;color:#fff}
button.secondary{background:#e5e7eb;color:#111827}
.error{background:#fdecec;color:#b42318;border-radius:6px;padding:10px;margin-bottom:12px}
.note{background:#f3f6fb;border-radius:6px;padding:10px;font-size:13px;color:#4b5563}
.ok{color:#067647}.bad{color:#b42318}
a.button{display:inline-block;background:#0057a8;color:#fff;text-decoration:none;
padding:10px 16px;border-radius:6px}
"""


def format_vnd(amount: int) -> str:
    """``1.800.000 ₫``: dot thousands separator, no-break space before the sign."""
    return f"{amount:,}".replace(",", ".") + "\u00a0₫"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} – VNPT Pay</title><style>{_CSS}</style></head>"
        "<body><header>VNPT Pay<span>Cổng thanh toán (mô phỏng)</span></header>"
        f"<main>{body}</main></body></html>"
    )


def _order_summary(merchant: str, order_id: str, amount: int, description: str) -> str:
    return (
        '<section class="card"><h1>Thông tin đơn hàng</h1><table>'
        f"<tr><td>Đơn vị chấp nhận thanh toán</td><td>{escape(merchant)}</td></tr>"
        f"<tr><td>Mã đơn hàng</td><td>{escape(order_id)}</td></tr>"
        f'<tr><td>Số tiền</td><td class="amount">{escape(format_vnd(amount))}</td></tr>'
        f"<tr><td>Nội dung</td><td>{escape(description)}</td></tr>"
        "</table></section>"
    )


def _error(message: str) -> str:
    return f'<div class="error" role="alert">{escape(message)}</div>' if message else ""


def choose_page(
    *,
    action: str,
    merchant: str,
    order_id: str,
    amount: int,
    description: str,
    error: str = "",
) -> str:
    options = "".join(
        f'<label class="method"><input type="radio" name="method" value="{key}" required>'
        f"<strong>{escape(label)}</strong></label>"
        for key, label in METHODS.items()
    )
    body = (
        _order_summary(merchant, order_id, amount, description)
        + '<section class="card"><h1>Chọn phương thức thanh toán</h1>'
        + _error(error)
        + f'<form method="post" action="{escape(action)}">{options}'
        '<div class="actions">'
        '<button class="primary" type="submit" name="action" value="next">Tiếp theo</button>'
        '<button class="secondary" type="submit" name="action" value="cancel" '
        "formnovalidate>Hủy</button>"
        "</div></form></section>"
    )
    return _page("Thanh toán đơn hàng", body)


def card_page(
    *,
    action: str,
    merchant: str,
    order_id: str,
    amount: int,
    description: str,
    error: str = "",
    holder: str = "",
    expiry: str = "",
) -> str:
    body = (
        _order_summary(merchant, order_id, amount, description)
        + '<section class="card"><h1>Thẻ thanh toán quốc tế</h1>'
        + _error(error)
        + f'<form method="post" action="{escape(action)}" autocomplete="off">'
        '<div class="field"><label for="card_number">Số thẻ</label>'
        '<input id="card_number" name="card_number" inputmode="numeric" '
        'placeholder="4111 1111 1111 1111" required></div>'
        '<div class="field"><label for="holder">Tên chủ thẻ</label>'
        f'<input id="holder" name="holder" value="{escape(holder)}" '
        'placeholder="NGUYEN VAN A" required></div>'
        '<div class="row"><div class="field"><label for="expiry">Ngày hết hạn (MM/YY)</label>'
        f'<input id="expiry" name="expiry" value="{escape(expiry)}" placeholder="12/30" '
        'pattern="[0-9]{2}/[0-9]{2}" required></div>'
        '<div class="field"><label for="cvv">Mã CVV/CVC</label>'
        '<input id="cvv" name="cvv" inputmode="numeric" placeholder="123" required></div></div>'
        '<p class="note">Thẻ thử nghiệm: 4111 1111 1111 1111 (thành công), '
        "4000 0000 0000 0002 (bị từ chối).</p>"
        '<div class="actions">'
        '<button class="primary" type="submit" name="action" value="pay">Thanh toán</button>'
        '<button class="secondary" type="submit" name="action" value="cancel" '
        "formnovalidate>Hủy</button>"
        "</div></form></section>"
    )
    return _page("Thẻ thanh toán quốc tế", body)


def demo_page(
    *, action: str, method: str, merchant: str, order_id: str, amount: int, description: str
) -> str:
    body = (
        _order_summary(merchant, order_id, amount, description)
        + f'<section class="card"><h1>{escape(METHODS[method])}</h1>'
        '<p class="note">Môi trường mô phỏng: nhấn <strong>Thanh toán</strong> để giả lập một '
        "giao dịch thành công, hoặc <strong>Hủy</strong> để hủy giao dịch.</p>"
        f'<form method="post" action="{escape(action)}"><div class="actions">'
        '<button class="primary" type="submit" name="action" value="pay">Thanh toán</button>'
        '<button class="secondary" type="submit" name="action" value="cancel">Hủy</button>'
        "</div></form></section>"
    )
    return _page(METHODS[method], body)


def result_page(
    *,
    response_code: str,
    merchant: str,
    order_id: str,
    amount: int,
    description: str,
    transaction_id: str,
    return_link: str,
) -> str:
    title = RESULT_TITLES.get(response_code, "Giao dịch không thành công")
    css = "ok" if response_code == "00" else "bad"
    body = (
        f'<section class="card"><h1 class="{css}">{escape(title)}</h1>'
        "<p>Giao dịch này đã được xử lý; không thể thanh toán lại.</p>"
        f"<p>Mã giao dịch: {escape(transaction_id)}</p>"
        f'<p><a class="button" href="{escape(return_link)}">Quay lại trang của đơn vị</a></p>'
        "</section>" + _order_summary(merchant, order_id, amount, description)
    )
    return _page(title, body)


def not_found_page() -> str:
    body = (
        '<section class="card"><h1 class="bad">Không tìm thấy giao dịch</h1>'
        "<p>Đường dẫn thanh toán không hợp lệ hoặc đã hết hạn.</p></section>"
    )
    return _page("Không tìm thấy giao dịch", body)
