"""VNPT Pay adapter of the domain's ``PaymentGateway`` port (protocol: ``vnptpay-protocol.md``).

Every message is built and checked field by field in the order the protocol lists; checksums
are always computed over the raw string values, never over a re-serialised form. Secrets (API
key, secret key) are never logged and never part of an exception message.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs

import httpx

from domain.constants import VN_TZ
from domain.payments import (
    BadChecksum,
    GatewayError,
    GatewayRejected,
    GatewayTimeout,
    InvalidNotification,
    PaymentLink,
    PaymentNotification,
    PaymentRequest,
    PaymentStatus,
    TransactionInfo,
)
from payments import checksum

log = logging.getLogger(__name__)

VERSION: Final = "1.0.6"
GATEWAY_TZ: Final = VN_TZ  # the gateway reads and writes dates in Vietnam time
DATE_FORMAT: Final = "%Y%m%d%H%M%S"
INIT_PATH: Final = "/rest/payment/v1.0.6/init"
QUERY_PATH: Final = "/rest/payment/v1.0.6/query"

INIT_FIELDS: Final = (
    "ACTION",
    "VERSION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "AMOUNT",
    "SERVICE_ID",
    "DEVICE",
    "LOCALE",
    "CURRENCY_CODE",
    "PAYMENT_METHOD",
    "DESCRIPTION",
    "CREATE_DATE",
    "CLIENT_IP",
)
INIT_RESPONSE_FIELDS: Final = (
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "REDIRECT_URL",
)
QUERY_FIELDS: Final = (
    "ACTION",
    "VERSION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "CREATE_DATE",
)
QUERY_RESPONSE_FIELDS: Final = (
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "VNPTPAY_TRANSACTION_ID",
    "AMOUNT",
    "CURRENCY_CODE",
    "PAYMENT_METHOD",
    "PAY_DATE",
    "TRANSACTION_STATUS",
)
IPN_FIELDS: Final = (
    "ACTION",
    "RESPONSE_CODE",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "AMOUNT",
    "CURRENCY_CODE",
    "VNPTPAY_TRANSACTION_ID",
    "PAYMENT_METHOD",
    "PAY_DATE",
    "ADDITIONAL_INFO",
)
IPN_REPLY_FIELDS: Final = (
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "CREATE_DATE",
)

TRANSACTION_STATUSES: Final[Mapping[str, PaymentStatus]] = {
    "0": PaymentStatus.CREATED,
    "5": PaymentStatus.PENDING,
    "50": PaymentStatus.SUCCESS,
    "55": PaymentStatus.FAILED,
    "-99": PaymentStatus.BUSY,
}
LOCALES: Final = {"vi": "vi-VN", "en": "en-US"}
DESCRIPTION_MAX: Final = 255
_DIGITS = re.compile(r"[0-9]+")


class IpnReply(enum.StrEnum):
    """Codes the merchant answers a notification with."""

    APPLIED = "00"
    ORDER_NOT_FOUND = "01"
    ALREADY_CONFIRMED = "02"
    BAD_CHECKSUM = "07"
    BUSY = "08"
    OTHER = "99"  # including an amount or currency that does not match the order


def ascii_description(text: str) -> str:
    """The gateway's DESCRIPTION: printable ASCII, ≤ 255 characters.

    Vietnamese diacritics are stripped (``đ``→``d``, ``Đ``→``D``, then NFD without combining
    marks); any other non-ASCII character is dropped; runs of whitespace become one space.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    kept = "".join(
        " " if ch.isspace() else ch
        for ch in decomposed
        if not unicodedata.combining(ch) and (ch.isspace() or " " <= ch <= "~")
    )
    return " ".join(kept.split())[:DESCRIPTION_MAX].rstrip()


def format_gateway_date(moment: datetime) -> str:
    """``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh; ``moment`` must be timezone-aware."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment.astimezone(GATEWAY_TZ).strftime(DATE_FORMAT)


def parse_gateway_date(value: str) -> datetime | None:
    """A gateway ``yyyyMMddHHmmss`` (Asia/Ho_Chi_Minh) as an aware UTC datetime; ``""`` → None.

    Raises ``ValueError`` on anything else.
    """
    if value == "":
        return None
    if len(value) != 14 or not value.isdigit():
        raise ValueError(f"not a yyyyMMddHHmmss date: {value!r}")
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=GATEWAY_TZ).astimezone(UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _AmbiguousOutcome(Exception):
    """The request may or may not have reached the gateway (timeout, lost connection, 5xx)."""


class VnptPayClient:
    """VNPT Pay client: ``create_payment`` and ``query`` (the port), plus the merchant-side
    helpers for notifications (IPN), their replies and the browser return.

    Safe retry of INIT. A timeout, a transport error or an HTTP 5xx during INIT leaves the
    outcome unknown: the gateway may have created the order while the answer was lost. The
    REDIRECT_URL cannot be recovered (QUERY does not return it), so the client never sends a
    new INIT blindly. Instead it sends one QUERY for the same MERCHANT_ORDER_ID and CREATE_DATE:

    1. QUERY verified with ``05`` (not found): the INIT never landed. The identical INIT (same
       id, same CREATE_DATE, same checksum) is sent once more; its result is returned as usual,
       except that another ambiguous outcome, or ``03`` (the first INIT landed late), raises
       ``GatewayTimeout``.
    2. QUERY answered with any status (the order exists: a re-INIT would be a ``03``
       duplicate), busy, failed or timed out: ``GatewayTimeout``. A QUERY response with a bad
       checksum raises ``BadChecksum``.

    ``GatewayTimeout`` therefore always means: this merchant order id is spent (its link never
    reached the payer, so it cannot be paid); retry with a NEW merchant order id. Outside this
    internal retry a merchant order id is never sent twice.

    ``clock`` returns the current aware datetime; it dates the notification replies.
    """

    def __init__(
        self,
        base_url: str,
        merchant_service_id: str,
        api_key: str,
        secret_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = _utc_now,
        client_ip: str = "127.0.0.1",
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._merchant_service_id = merchant_service_id
        self._api_key = api_key
        self._secret = secret_key
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._timeout = timeout
        self._clock = clock
        self._client_ip = client_ip

    def __repr__(self) -> str:
        return f"VnptPayClient({self._base_url!r}, {self._merchant_service_id!r})"

    @property
    def merchant_service_id(self) -> str:
        return self._merchant_service_id

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> VnptPayClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- the port -------------------------------------------------------------------------

    def build_init(self, req: PaymentRequest) -> dict[str, str]:
        """The INIT body, every value a string, in protocol order, SECURE_CODE last."""
        values = {
            "ACTION": "INIT",
            "VERSION": VERSION,
            "MERCHANT_SERVICE_ID": self._merchant_service_id,
            "MERCHANT_ORDER_ID": req.merchant_order_id,
            "AMOUNT": str(req.amount),
            "SERVICE_ID": "1",
            "DEVICE": "1",
            "LOCALE": LOCALES[req.locale],
            "CURRENCY_CODE": "VND",
            "PAYMENT_METHOD": "VNPTPAY",
            "DESCRIPTION": ascii_description(req.description),
            "CREATE_DATE": format_gateway_date(req.created_at),
            "CLIENT_IP": self._client_ip,
        }
        return self._signed(values, INIT_FIELDS)

    async def create_payment(self, req: PaymentRequest) -> PaymentLink:
        body = self.build_init(req)
        order_id = req.merchant_order_id
        try:
            return await self._init(body)
        except _AmbiguousOutcome as exc:
            log.warning("vnptpay INIT %s: outcome unknown (%s); querying", order_id, exc)
            ambiguous = exc
        try:
            info = await self.query(order_id, body["CREATE_DATE"])
        except BadChecksum:
            raise
        except GatewayError as exc:
            raise GatewayTimeout(
                "INIT outcome unknown and QUERY failed; retry with a new merchant order id",
                merchant_order_id=order_id,
            ) from exc
        if info.status is not PaymentStatus.NOT_FOUND:
            log.warning("vnptpay INIT %s: gateway has the order (%s)", order_id, info.status)
            raise GatewayTimeout(
                "INIT answer lost but the gateway has the order; retry with a new merchant "
                "order id",
                merchant_order_id=order_id,
            ) from ambiguous
        log.info("vnptpay INIT %s: not at the gateway; sending INIT once more", order_id)
        try:
            return await self._init(body)
        except _AmbiguousOutcome as exc:
            raise GatewayTimeout(
                "INIT timed out twice; retry with a new merchant order id",
                merchant_order_id=order_id,
            ) from exc
        except GatewayRejected as exc:
            if exc.response_code == "03":
                raise GatewayTimeout(
                    "the first INIT landed late; retry with a new merchant order id",
                    merchant_order_id=order_id,
                ) from exc
            raise

    async def query(self, merchant_order_id: str, create_date: str) -> TransactionInfo:
        body = self._signed(
            {
                "ACTION": "QUERY",
                "VERSION": VERSION,
                "MERCHANT_SERVICE_ID": self._merchant_service_id,
                "MERCHANT_ORDER_ID": merchant_order_id,
                "CREATE_DATE": create_date,
            },
            QUERY_FIELDS,
        )
        try:
            data = await self._post(QUERY_PATH, body)
        except _AmbiguousOutcome as exc:
            raise GatewayTimeout(
                f"QUERY failed: {exc}", merchant_order_id=merchant_order_id
            ) from exc
        values = self._verified(data, QUERY_RESPONSE_FIELDS, "QUERY")
        code = values["RESPONSE_CODE"]
        log.info(
            "vnptpay QUERY %s -> %s status=%r",
            merchant_order_id,
            code,
            values["TRANSACTION_STATUS"],
        )
        if code == "05":
            return TransactionInfo(
                merchant_order_id, PaymentStatus.NOT_FOUND, None, None, None, code
            )
        if code != "00":
            raise GatewayRejected(code, values["DESCRIPTION"])
        if values["MERCHANT_ORDER_ID"] != merchant_order_id:
            raise GatewayError("QUERY answered for another order")
        status = TRANSACTION_STATUSES.get(values["TRANSACTION_STATUS"], PaymentStatus.UNKNOWN)
        amount = int(values["AMOUNT"]) if _DIGITS.fullmatch(values["AMOUNT"]) else None
        try:
            paid_at = parse_gateway_date(values["PAY_DATE"])
        except ValueError:
            paid_at = None
        return TransactionInfo(
            merchant_order_id=merchant_order_id,
            status=status,
            amount=amount,
            transaction_id=values["VNPTPAY_TRANSACTION_ID"] or None,
            paid_at=paid_at,
            response_code=code,
            currency=values["CURRENCY_CODE"] or None,
        )

    # --- notifications, replies, browser return ------------------------------------------

    def parse_notification(
        self, raw: Mapping[str, str] | str | bytes, content_type: str
    ) -> PaymentNotification:
        """Decode a notification body and verify it (see ``verify_notification``).

        ``raw`` is the request body (``str``/``bytes``) or an already-decoded form
        (``Mapping``). Accepted: ``application/x-www-form-urlencoded`` with one field ``data``
        holding the JSON object, or the JSON object as an ``application/json`` body. A body
        that cannot be decoded raises ``InvalidNotification``.
        """
        media = content_type.split(";", 1)[0].strip().lower()
        if isinstance(raw, Mapping):
            if "data" in raw and "SECURE_CODE" not in raw:
                obj = _json_object(raw["data"])
            else:
                obj = dict(raw)
        else:
            if isinstance(raw, bytes):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidNotification("notification is not UTF-8") from exc
            else:
                text = raw
            is_json = media == "application/json" or media.endswith("+json")
            if media != "application/x-www-form-urlencoded" and not is_json:
                is_json = text.lstrip().startswith("{")
            if is_json:
                obj = _json_object(text)
            else:
                form = parse_qs(text, keep_blank_values=True)
                datas = form.get("data", [])
                if len(datas) != 1:
                    raise InvalidNotification("form needs exactly one 'data' field")
                obj = _json_object(datas[0])
        fields: dict[str, str] = {}
        for key, value in obj.items():
            if isinstance(value, str):
                fields[key] = value
            elif isinstance(value, int) and not isinstance(value, bool):
                fields[key] = str(value)
            elif value is None:
                fields[key] = ""
            else:
                raise InvalidNotification(f"field {key} is not a string")
        return self.verify_notification(fields)

    def verify_notification(self, fields: Mapping[str, str]) -> PaymentNotification:
        """Verify a decoded notification and read it.

        The checksum is verified first, over the raw values in protocol order (an absent
        field counts as an empty value); a mismatch raises ``BadChecksum`` (reply ``07``).
        Then a foreign MERCHANT_SERVICE_ID, an empty MERCHANT_ORDER_ID or RESPONSE_CODE, or a
        non-numeric AMOUNT raises ``InvalidNotification`` (reply ``99``). ACTION's value is
        covered by the checksum but not otherwise interpreted. An unreadable PAY_DATE gives
        ``pay_date=None`` rather than losing a payment.
        """
        received = fields.get("SECURE_CODE")
        values = [fields.get(name, "") for name in IPN_FIELDS]
        if not isinstance(received, str) or not all(isinstance(v, str) for v in values):
            raise BadChecksum("notification has no checksum")
        if not checksum.verify(values, self._secret, received):
            log.warning("vnptpay IPN for %r: bad checksum", fields.get("MERCHANT_ORDER_ID"))
            raise BadChecksum("notification checksum does not match")
        v = dict(zip(IPN_FIELDS, values, strict=True))
        if v["MERCHANT_SERVICE_ID"] != self._merchant_service_id:
            raise InvalidNotification("notification for another merchant service")
        if not v["MERCHANT_ORDER_ID"] or not v["RESPONSE_CODE"]:
            raise InvalidNotification("notification without order id or response code")
        if not _DIGITS.fullmatch(v["AMOUNT"]):
            raise InvalidNotification("notification amount is not a whole number")
        try:
            pay_date = parse_gateway_date(v["PAY_DATE"])
        except ValueError:
            log.warning("vnptpay IPN %s: unreadable PAY_DATE", v["MERCHANT_ORDER_ID"])
            pay_date = None
        return PaymentNotification(
            merchant_order_id=v["MERCHANT_ORDER_ID"],
            response_code=v["RESPONSE_CODE"],
            amount=int(v["AMOUNT"]),
            currency=v["CURRENCY_CODE"],
            transaction_id=v["VNPTPAY_TRANSACTION_ID"],
            payment_method=v["PAYMENT_METHOD"],
            pay_date=pay_date,
            success=v["RESPONSE_CODE"] == "00",
        )

    def sign_ipn_reply(
        self,
        response_code: str,
        description: str,
        merchant_order_id: str,
        create_date: str | None = None,
    ) -> dict[str, str]:
        """The reply to a notification, in protocol order, SECURE_CODE over the five values.

        ``create_date`` defaults to now (``clock``) as ``yyyyMMddHHmmss`` Asia/Ho_Chi_Minh.
        """
        values = {
            "RESPONSE_CODE": response_code,
            "DESCRIPTION": description,
            "MERCHANT_SERVICE_ID": self._merchant_service_id,
            "MERCHANT_ORDER_ID": merchant_order_id,
            "CREATE_DATE": create_date if create_date is not None else self._now_gateway(),
        }
        return self._signed(values, IPN_REPLY_FIELDS)

    def verify_return(self, data: str, code: str, secure_code: str) -> bool:
        """Check the browser return's ``secureCode = sha256(data|vnptpayResponseCode|secret)``.

        The return is for display only: even when valid, it never changes state.
        """
        return checksum.verify([data, code], self._secret, secure_code)

    # --- internals ------------------------------------------------------------------------

    def _now_gateway(self) -> str:
        return format_gateway_date(self._clock())

    def _signed(self, values: dict[str, str], order: tuple[str, ...]) -> dict[str, str]:
        ordered = {name: values[name] for name in order}
        code = checksum.secure_code(list(ordered.values()), self._secret)
        return {**ordered, "SECURE_CODE": code}

    async def _init(self, body: dict[str, str]) -> PaymentLink:
        data = await self._post(INIT_PATH, body)
        values = self._verified(data, INIT_RESPONSE_FIELDS, "INIT")
        code = values["RESPONSE_CODE"]
        order_id = body["MERCHANT_ORDER_ID"]
        log.info("vnptpay INIT %s -> %s", order_id, code)
        if code != "00":
            raise GatewayRejected(code, values["DESCRIPTION"])
        if values["MERCHANT_ORDER_ID"] != order_id or not values["REDIRECT_URL"]:
            raise GatewayError("INIT success without a usable redirect URL")
        if not values["REDIRECT_URL"].startswith(("https://", "http://")):
            raise GatewayError("INIT redirect URL is not an http(s) URL")
        return PaymentLink(order_id, values["REDIRECT_URL"], body["CREATE_DATE"])

    async def _post(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self._base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {self._api_key}"},
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            raise _AmbiguousOutcome(type(exc).__name__) from exc
        if response.status_code >= 500:
            raise _AmbiguousOutcome(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise GatewayError(f"gateway answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise GatewayError("gateway answer is not JSON") from exc
        if not isinstance(data, dict):
            raise GatewayError("gateway answer is not a JSON object")
        return data

    def _verified(
        self, data: Mapping[str, Any], order: tuple[str, ...], what: str
    ) -> dict[str, str]:
        """The response's values by name, after checking SECURE_CODE over them in ``order``.

        An absent or null field counts as an empty value (its slot is kept); a value that is
        neither a string nor an integer cannot be hashed as sent and fails the check.
        """
        values: dict[str, str] = {}
        for name in order:
            raw = data.get(name)
            if raw is None:
                raw = ""
            if isinstance(raw, bool) or not isinstance(raw, str | int):
                raise BadChecksum(f"{what} response field {name} is not a string")
            values[name] = str(raw)
        received = data.get("SECURE_CODE")
        if not isinstance(received, str) or not checksum.verify(
            list(values.values()), self._secret, received
        ):
            log.warning("vnptpay %s response with a bad checksum refused", what)
            raise BadChecksum(f"{what} response checksum does not match")
        return values


def _json_object(text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise InvalidNotification("notification is not JSON") from exc
    if not isinstance(obj, dict):
        raise InvalidNotification("notification is not a JSON object")
    return obj
