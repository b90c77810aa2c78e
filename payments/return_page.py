"""The page a payer's browser lands on after VNPT Pay (``vnptpay-protocol.md`` §3).

The browser return is display only: it is built from the bot's OWN records and never changes
state. Its ``secureCode`` is verified first; when it does not match (a forged or mangled link)
the page says the result cannot be verified and shows nothing about any order. The response
code in the URL is never used to decide what the page says.

The page is one self-contained HTML document: inline style, no script, no external resource.
Every text comes from the locale files (``payment_page.*``, plain text) and is HTML-escaped
together with every value, so nothing from the URL or the records can inject markup.
"""

from __future__ import annotations

import enum
import html
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from domain.formatting import format_money
from domain.usecases.payments import PaymentState, PaymentStatusView
from payments.vnptpay import VnptPayClient

__all__ = ["PageKind", "ReturnPage", "Translate", "build_return_page", "render_return_page"]

log = logging.getLogger(__name__)

#: ``t(lang, key, **params)`` → the plain-text template for ``key`` formatted with ``params``
Translate = Callable[..., str]
Describe = Callable[[str], Awaitable[PaymentStatusView]]

_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,50}")
_LANGUAGES = ("vi", "en")


class PageKind(enum.StrEnum):
    PAID = "paid"
    PENDING = "pending"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    UNVERIFIED = "unverified"  # the secureCode does not match: nothing is shown
    UNAVAILABLE = "unavailable"  # the records could not be read right now


_KIND_OF_STATE = {
    PaymentState.PAID: PageKind.PAID,
    PaymentState.PENDING: PageKind.PENDING,
    PaymentState.FAILED: PageKind.FAILED,
    PaymentState.CANCELLED: PageKind.CANCELLED,
    PaymentState.EXPIRED: PageKind.EXPIRED,
    PaymentState.UNKNOWN: PageKind.UNKNOWN,
}

_COLOURS = {
    PageKind.PAID: "#1a7f37",
    PageKind.PENDING: "#9a6700",
    PageKind.FAILED: "#cf222e",
    PageKind.CANCELLED: "#57606a",
    PageKind.EXPIRED: "#57606a",
    PageKind.UNKNOWN: "#57606a",
    PageKind.UNVERIFIED: "#cf222e",
    PageKind.UNAVAILABLE: "#9a6700",
}

_STYLE = (
    "body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
    "background:#f6f8fa;color:#1f2328}"
    "main{max-width:28rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:12px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.35rem;margin:0 0 .75rem;color:var(--c)}"
    "dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem 1rem;margin:1rem 0}"
    "dt{color:#57606a}dd{margin:0;font-weight:600}"
    "a.button{display:inline-block;margin-top:.5rem;padding:.6rem 1.1rem;border-radius:8px;"
    "background:#0969da;color:#fff;text-decoration:none;font-weight:600}"
    ".hint{color:#57606a;font-size:.9rem}"
)


@dataclass(frozen=True, slots=True)
class ReturnPage:
    kind: PageKind
    lang: str
    html: str
    merchant_order_id: str = ""


def _lang(value: str | None, default: str) -> str:
    return value if value in _LANGUAGES else default


def render_return_page(
    kind: PageKind,
    lang: str,
    t: Translate,
    *,
    view: PaymentStatusView | None = None,
    chat_url: str | None = None,
) -> str:
    """The HTML document. ``view`` details (order, amount, subscription) are shown only for
    a verified return; ``chat_url`` (``https://t.me/<bot>``, or the CHAT_URL setting) becomes
    the link back."""
    esc = html.escape

    def text(key: str) -> str:
        return esc(t(lang, key))

    rows: list[tuple[str, str]] = []
    if view is not None and kind not in (PageKind.UNVERIFIED, PageKind.UNKNOWN):
        if view.order_code:
            rows.append((text("payment_page.order"), esc(view.order_code)))
        if view.total:
            rows.append((text("payment_page.amount"), esc(format_money(view.total, lang))))
        if kind is PageKind.PAID and view.subscription_code:
            rows.append((text("payment_page.subscription"), esc(view.subscription_code)))
    details = ""
    if rows:
        items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
        details = f"<dl>{items}</dl>"
    back = ""
    if chat_url and chat_url.startswith(("https://", "http://")):
        back = (
            f'<p><a class="button" href="{esc(chat_url, quote=True)}">'
            f"{text('payment_page.back')}</a></p>"
        )
    return (
        "<!doctype html>"
        f'<html lang="{esc(lang, quote=True)}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{text('payment_page.title')}</title>"
        f"<style>{_STYLE}</style></head>"
        f'<body><main class="{kind.value}" style="--c:{_COLOURS[kind]}">'
        f"<h1>{text(f'payment_page.heading.{kind.value}')}</h1>"
        f"<p>{text(f'payment_page.body.{kind.value}')}</p>"
        f"{details}{back}"
        f'<p class="hint">{text("payment_page.close_hint")}</p>'
        "</main></body></html>"
    )


async def build_return_page(
    query: Mapping[str, str],
    *,
    client: VnptPayClient,
    describe: Describe,
    t: Translate,
    default_locale: str = "vi",
    chat_url: str | None = None,
) -> ReturnPage:
    """The page for the query string ``vnptpayResponseCode``, ``data`` (the merchant order
    id) and ``secureCode``. Reads the records (``describe``) only after the secureCode
    matched; never writes anything."""
    data = query.get("data", "")
    code = query.get("vnptpayResponseCode", "")
    secure = query.get("secureCode", "")
    default = _lang(default_locale, "vi")
    if not _ORDER_ID.fullmatch(data) or not client.verify_return(data, code, secure):
        log.warning("vnptpay return for %r: secureCode does not match", data[:50])
        return ReturnPage(
            PageKind.UNVERIFIED,
            default,
            render_return_page(PageKind.UNVERIFIED, default, t, chat_url=chat_url),
        )
    try:
        view = await describe(data)
    except Exception:
        log.exception("vnptpay return for %s: the records could not be read", data)
        kind = PageKind.UNAVAILABLE
        return ReturnPage(
            kind, default, render_return_page(kind, default, t, chat_url=chat_url), data
        )
    lang = _lang(view.locale, default)
    kind = _KIND_OF_STATE[view.state]
    log.info("vnptpay return for %s (code %s): showing %s", data, code, kind.value)
    page = render_return_page(kind, lang, t, view=view, chat_url=chat_url)
    return ReturnPage(kind, lang, page, data)
