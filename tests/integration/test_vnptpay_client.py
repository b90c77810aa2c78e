"""The project's VNPT Pay client against the simulator, over real HTTP on 127.0.0.1.

The simulator has its own checksum code, so a shared misreading of the recipe would show up
here as a refused message. Field lists below are copied from the protocol page, not imported.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web

from domain.payments import (
    BadChecksum,
    GatewayError,
    GatewayRejected,
    GatewayTimeout,
    InvalidNotification,
    PaymentNotification,
    PaymentRequest,
    PaymentStatus,
)
from payments.vnptpay import VnptPayClient, ascii_description, format_gateway_date
from sandbox.vnptpay import RunningSimulator, SimulatorConfig, start_simulator

MSID = "MS-CLIENT"
API_KEY = "client-api-key"
SECRET = "client-secret"
INIT_FIELDS = [
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
]
CARD = {"card": "4111111111111111", "holder": "NGUYEN VAN A", "expiry": "12/35", "cvv": "123"}


def sha(values: list[str]) -> str:
    return hashlib.sha256("|".join([*values, SECRET]).encode("utf-8")).hexdigest()


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    config = SimulatorConfig(
        merchant_service_id=MSID,
        api_key=API_KEY,
        secret_key=SECRET,
        return_url="http://merchant.example/return",
        ipn_url="",
        public_base_url="",
        ipn_retry_delay=0.0,
        ipn_timeout=2.0,
        max_clock_skew_seconds=600,  # a CREATE_DATE written in UTC instead of local time fails
    )
    running = await start_simulator(config)
    yield running
    await running.stop()


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[VnptPayClient]:
    async with VnptPayClient(sim.base_url, MSID, API_KEY, SECRET, timeout=2.0) as vnptpay:
        yield vnptpay


@pytest.fixture
async def sim_http(sim: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=5.0) as http:
        yield http


def request(
    order_id: str = "ORD-1",
    amount: int = 1_800_000,
    description: str = "Goi Co ban",
    locale: str = "vi",
) -> PaymentRequest:
    return PaymentRequest(
        merchant_order_id=order_id,
        amount=amount,
        description=description,
        locale=locale,  # type: ignore[arg-type]
        created_at=datetime.now(UTC),
    )


async def seen_requests(http: httpx.AsyncClient) -> dict[str, Any]:
    data: dict[str, Any] = (await http.get("/_sim/requests")).json()
    return data


async def transactions(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    rows = (await http.get("/_sim/transactions")).json()
    return {row["merchant_order_id"]: row for row in rows}


async def test_init_success_gives_a_link_to_the_payers_page(
    client: VnptPayClient, sim: RunningSimulator, sim_http: httpx.AsyncClient
) -> None:
    req = request("ORD-OK")
    link = await client.create_payment(req)
    assert link.merchant_order_id == "ORD-OK"
    assert link.redirect_url.startswith(f"{sim.base_url}/pay/")
    assert link.create_date == format_gateway_date(req.created_at)
    page = await sim_http.get(link.redirect_url)
    assert page.status_code == 200
    assert "ORD-OK" in page.text
    assert "1.800.000\u00a0₫" in page.text
    assert "Thẻ thanh toán quốc tế" in page.text


async def test_init_sends_exactly_the_listed_fields_in_order(
    client: VnptPayClient, sim_http: httpx.AsyncClient
) -> None:
    await client.create_payment(request("ORD-FIELDS", amount=150_000, locale="en"))
    seen = (await seen_requests(sim_http))["requests"]
    assert len(seen) == 1
    init = seen[0]
    assert init["action"] == "INIT"
    assert init["authorized"] is True
    assert init["content_type"] == "application/json"
    assert init["fields"] == [*INIT_FIELDS, "SECURE_CODE"]
    body = init["body"]
    assert all(isinstance(v, str) for v in body.values())
    assert body["ACTION"] == "INIT"
    assert body["VERSION"] == "1.0.6"
    assert body["MERCHANT_SERVICE_ID"] == MSID
    assert body["AMOUNT"] == "150000"
    assert body["SERVICE_ID"] == "1"
    assert body["DEVICE"] == "1"
    assert body["LOCALE"] == "en-US"
    assert body["CURRENCY_CODE"] == "VND"
    assert body["PAYMENT_METHOD"] == "VNPTPAY"
    assert body["CLIENT_IP"] == "127.0.0.1"
    assert body["SECURE_CODE"] == sha([body[name] for name in INIT_FIELDS])


def test_create_date_is_local_time_in_ho_chi_minh() -> None:
    # 17:30:05 UTC on 1 March 2026 is 00:30:05 on 2 March in Asia/Ho_Chi_Minh (UTC+7)
    assert format_gateway_date(datetime(2026, 3, 1, 17, 30, 5, tzinfo=UTC)) == "20260302003005"


async def test_diacritics_are_stripped_from_the_description(
    client: VnptPayClient, sim_http: httpx.AsyncClient
) -> None:
    await client.create_payment(
        request("ORD-VI", description="Thanh toán gói Cơ bản – Đăng ký dịch vụ\nSmartCA ₫")
    )
    body = (await seen_requests(sim_http))["requests"][0]["body"]
    assert body["DESCRIPTION"] == "Thanh toan goi Co ban Dang ky dich vu SmartCA"
    assert (await transactions(sim_http))["ORD-VI"]["description"] == body["DESCRIPTION"]


def test_ascii_description_limits() -> None:
    assert ascii_description("Đường Lê Lợi, Quận 1") == "Duong Le Loi, Quan 1"
    assert ascii_description("ỨNG DỤNG ĐIỆN TỬ") == "UNG DUNG DIEN TU"
    long = ascii_description("ạ" * 300)
    assert long == "a" * 255


async def test_query_before_and_after_paying(
    client: VnptPayClient, sim_http: httpx.AsyncClient
) -> None:
    link = await client.create_payment(request("ORD-Q", amount=2_000_000))
    before = await client.query("ORD-Q", link.create_date)
    assert before.status is PaymentStatus.CREATED
    assert before.response_code == "00"
    assert before.amount == 2_000_000
    assert before.transaction_id is None
    assert before.paid_at is None

    paid = await sim_http.post("/_sim/pay/ORD-Q", json=CARD)
    assert paid.status_code == 200
    after = await client.query("ORD-Q", link.create_date)
    assert after.status is PaymentStatus.SUCCESS
    assert after.amount == 2_000_000
    assert after.currency == "VND"
    assert after.transaction_id == paid.json()["transaction"]["transaction_id"]
    assert after.paid_at is not None
    assert after.paid_at.utcoffset() == timedelta(0)
    assert abs(after.paid_at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_query_of_a_declined_payment_is_failed(
    client: VnptPayClient, sim_http: httpx.AsyncClient
) -> None:
    link = await client.create_payment(request("ORD-DECL"))
    await sim_http.post("/_sim/pay/ORD-DECL", json={**CARD, "card": "4000000000000002"})
    info = await client.query("ORD-DECL", link.create_date)
    assert info.status is PaymentStatus.FAILED


async def test_query_unknown_and_busy(client: VnptPayClient, sim_http: httpx.AsyncClient) -> None:
    link = await client.create_payment(request("ORD-KNOWN"))
    unknown = await client.query("ORD-UNKNOWN", link.create_date)
    assert (unknown.status, unknown.response_code) == (PaymentStatus.NOT_FOUND, "05")
    await sim_http.post("/_sim/switches", json={"query_busy": True})
    busy = await client.query("ORD-KNOWN", link.create_date)
    assert busy.status is PaymentStatus.BUSY


async def test_init_answer_with_a_bad_checksum_is_refused(
    client: VnptPayClient, sim_http: httpx.AsyncClient
) -> None:
    await sim_http.post("/_sim/switches", json={"init_bad_checksum": True})
    with pytest.raises(BadChecksum):
        await client.create_payment(request("ORD-BADSUM"))


async def test_query_answer_with_a_bad_checksum_is_refused(
    client: VnptPayClient, sim_http: httpx.AsyncClient
) -> None:
    link = await client.create_payment(request("ORD-QBAD"))
    await sim_http.post("/_sim/switches", json={"query_bad_checksum": True})
    with pytest.raises(BadChecksum):
        await client.query("ORD-QBAD", link.create_date)


async def test_timeout_then_query_and_no_second_init(
    sim: RunningSimulator, sim_http: httpx.AsyncClient
) -> None:
    await sim_http.post("/_sim/switches", json={"init_timeouts": 1, "init_timeout_seconds": 2.0})
    async with VnptPayClient(sim.base_url, MSID, API_KEY, SECRET, timeout=0.3) as client:
        with pytest.raises(GatewayTimeout) as caught:
            await client.create_payment(request("ORD-SLOW"))
    assert caught.value.merchant_order_id == "ORD-SLOW"
    seen = await seen_requests(sim_http)
    assert seen["init_count"] == 1
    assert [r["action"] for r in seen["requests"]] == ["INIT", "QUERY"]
    query = seen["requests"][1]["body"]
    assert query["MERCHANT_ORDER_ID"] == "ORD-SLOW"
    assert query["CREATE_DATE"] == seen["requests"][0]["body"]["CREATE_DATE"]


async def test_lost_init_is_sent_once_more_with_the_same_id(
    sim: RunningSimulator, sim_http: httpx.AsyncClient
) -> None:
    await sim_http.post(
        "/_sim/switches",
        json={"init_timeouts": 1, "init_timeout_seconds": 2.0, "init_timeout_lost": True},
    )
    async with VnptPayClient(sim.base_url, MSID, API_KEY, SECRET, timeout=0.3) as client:
        link = await client.create_payment(request("ORD-LOST"))
    assert link.merchant_order_id == "ORD-LOST"
    seen = await seen_requests(sim_http)
    assert [r["action"] for r in seen["requests"]] == ["INIT", "QUERY", "INIT"]
    first, _, second = seen["requests"]
    assert first["body"] == second["body"]
    assert list(await transactions(sim_http)) == ["ORD-LOST"]


async def test_timeout_with_a_busy_query_does_not_init_again(
    sim: RunningSimulator, sim_http: httpx.AsyncClient
) -> None:
    await sim_http.post(
        "/_sim/switches",
        json={
            "init_timeouts": 1,
            "init_timeout_seconds": 2.0,
            "init_timeout_lost": True,
            "query_busy": True,
        },
    )
    async with VnptPayClient(sim.base_url, MSID, API_KEY, SECRET, timeout=0.3) as client:
        with pytest.raises(GatewayTimeout):
            await client.create_payment(request("ORD-BUSY"))
    assert (await seen_requests(sim_http))["init_count"] == 1


async def test_unreachable_gateway_is_a_timeout() -> None:
    async with VnptPayClient("http://127.0.0.1:9", MSID, API_KEY, SECRET, timeout=0.5) as client:
        with pytest.raises(GatewayTimeout):
            await client.create_payment(request("ORD-DOWN"))


async def test_duplicate_order_id_is_rejected_with_03(client: VnptPayClient) -> None:
    await client.create_payment(request("ORD-DUP"))
    with pytest.raises(GatewayRejected) as caught:
        await client.create_payment(request("ORD-DUP"))
    assert caught.value.response_code == "03"


async def test_unknown_merchant_service_is_rejected_with_09(sim: RunningSimulator) -> None:
    async with VnptPayClient(sim.base_url, "MS-OTHER", API_KEY, SECRET) as client:
        with pytest.raises(GatewayRejected) as caught:
            await client.create_payment(request("ORD-09"))
    assert caught.value.response_code == "09"


async def test_wrong_secret_is_refused_by_the_gateway(sim: RunningSimulator) -> None:
    async with VnptPayClient(sim.base_url, MSID, API_KEY, "not-the-secret") as client:
        with pytest.raises(GatewayError):  # 07, signed with the real secret: BadChecksum here
            await client.create_payment(request("ORD-07"))


async def test_wrong_api_key_is_a_gateway_error(
    sim: RunningSimulator, sim_http: httpx.AsyncClient
) -> None:
    async with VnptPayClient(sim.base_url, MSID, "wrong-key", SECRET) as client:
        with pytest.raises(GatewayError) as caught:
            await client.create_payment(request("ORD-401"))
    assert not isinstance(caught.value, GatewayTimeout | GatewayRejected)
    assert "wrong-key" not in str(caught.value)
    assert await transactions(sim_http) == {}


def test_payment_request_invariants() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError):
        PaymentRequest("ORD 1", 1000, "x", "vi", now)
    with pytest.raises(ValueError):
        PaymentRequest("O" * 51, 1000, "x", "vi", now)
    with pytest.raises(ValueError):
        PaymentRequest("ORD-1", 0, "x", "vi", now)
    with pytest.raises(ValueError):
        PaymentRequest("ORD-1", 1000, "x", "vi", datetime(2026, 1, 1))


# --- notifications: the simulator's IPN read by the client's helpers ------------------------


class Merchant:
    """A minimal IPN endpoint built on the client's helpers, as the bot's would be."""

    def __init__(self, client: VnptPayClient) -> None:
        self.client = client
        self.applied: dict[str, PaymentNotification] = {}
        self.expected_amount = 1_800_000

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            note = self.client.parse_notification(raw, request.headers["Content-Type"])
        except BadChecksum:
            return web.json_response(self.client.sign_ipn_reply("07", "bad checksum", ""))
        except InvalidNotification:
            return web.json_response(self.client.sign_ipn_reply("99", "invalid", ""))
        if note.amount != self.expected_amount or note.currency != "VND":
            reply = self.client.sign_ipn_reply("99", "amount", note.merchant_order_id)
        elif note.merchant_order_id in self.applied:
            reply = self.client.sign_ipn_reply("02", "repeat", note.merchant_order_id)
        else:
            self.applied[note.merchant_order_id] = note
            reply = self.client.sign_ipn_reply("00", "ok", note.merchant_order_id)
        return web.json_response(reply)


@pytest.fixture
async def merchant(sim: RunningSimulator, client: VnptPayClient) -> AsyncIterator[Merchant]:
    shop = Merchant(client)
    app = web.Application()
    app.router.add_post("/ipn", shop.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    sim.config.ipn_url = f"http://{host}:{port}/ipn"
    yield shop
    await runner.cleanup()


@pytest.mark.parametrize("as_json", [False, True])
async def test_notification_verified_and_replied(
    client: VnptPayClient, merchant: Merchant, sim_http: httpx.AsyncClient, as_json: bool
) -> None:
    await sim_http.post("/_sim/switches", json={"notification_as_json": as_json})
    await client.create_payment(request("ORD-IPN"))
    paid = (await sim_http.post("/_sim/pay/ORD-IPN", json=CARD)).json()
    note = merchant.applied["ORD-IPN"]
    assert note.success is True
    assert note.response_code == "00"
    assert note.amount == 1_800_000
    assert note.currency == "VND"
    assert note.transaction_id == paid["transaction"]["transaction_id"]
    assert note.payment_method == "INTERNATIONAL_CARD"
    assert note.pay_date is not None and note.pay_date.utcoffset() == timedelta(0)
    sent = (await sim_http.get("/_sim/notifications")).json()
    assert len(sent) == 1
    assert sent[0]["reply_checksum_ok"] is True
    assert sent[0]["reply_fields_in_order"] is True
    assert sent[0]["accepted"] is True

    query = parse_qs(urlsplit(paid["location"]).query)
    data, code, secure = query["data"][0], query["vnptpayResponseCode"][0], query["secureCode"][0]
    assert client.verify_return(data, code, secure) is True
    assert client.verify_return(data, "00", secure[::-1]) is False
    assert client.verify_return(data, "70", secure) is False


async def test_notification_repeat_and_tampering(
    client: VnptPayClient, merchant: Merchant, sim_http: httpx.AsyncClient
) -> None:
    await sim_http.post("/_sim/switches", json={"notification_twice": True})
    await client.create_payment(request("ORD-TWICE"))
    await sim_http.post("/_sim/pay/ORD-TWICE", json=CARD)
    sent = (await sim_http.get("/_sim/notifications")).json()
    assert [n["reply_code"] for n in sent] == ["00", "02"]

    await sim_http.post(
        "/_sim/switches", json={"notification_twice": False, "notification_bad_checksum": True}
    )
    await client.create_payment(request("ORD-FORGED"))
    await sim_http.post("/_sim/pay/ORD-FORGED", json=CARD)
    assert "ORD-FORGED" not in merchant.applied
    forged = [
        n
        for n in (await sim_http.get("/_sim/notifications")).json()
        if n["merchant_order_id"] == "ORD-FORGED"
    ]
    assert {n["reply_code"] for n in forged} == {"07"}

    await sim_http.post(
        "/_sim/switches",
        json={"notification_bad_checksum": False, "notification_amount_delta": 1},
    )
    await client.create_payment(request("ORD-AMOUNT"))
    await sim_http.post("/_sim/pay/ORD-AMOUNT", json=CARD)
    assert "ORD-AMOUNT" not in merchant.applied
    wrong = [
        n
        for n in (await sim_http.get("/_sim/notifications")).json()
        if n["merchant_order_id"] == "ORD-AMOUNT"
    ]
    assert wrong[0]["reply_code"] == "99"


async def test_verify_notification_checks_before_reading(client: VnptPayClient) -> None:
    fields = {
        "ACTION": "CONFIRM",
        "RESPONSE_CODE": "70",
        "MERCHANT_SERVICE_ID": MSID,
        "MERCHANT_ORDER_ID": "ORD-X",
        "AMOUNT": "150000",
        "CURRENCY_CODE": "VND",
        "VNPTPAY_TRANSACTION_ID": "123",
        "PAYMENT_METHOD": "",
        "PAY_DATE": "20260302003005",
        "ADDITIONAL_INFO": "",
    }
    signed = {**fields, "SECURE_CODE": sha(list(fields.values()))}
    note = client.verify_notification(signed)
    assert note.success is False
    assert note.pay_date == datetime(2026, 3, 1, 17, 30, 5, tzinfo=UTC)
    with pytest.raises(BadChecksum):
        client.verify_notification({**signed, "AMOUNT": "150001"})
    with pytest.raises(BadChecksum):
        client.verify_notification({k: v for k, v in signed.items() if k != "SECURE_CODE"})
    with pytest.raises(BadChecksum):
        client.verify_notification({**signed, "SECURE_CODE": signed["SECURE_CODE"].upper()})
    foreign = {**fields, "MERCHANT_SERVICE_ID": "MS-OTHER"}
    with pytest.raises(InvalidNotification):
        client.verify_notification({**foreign, "SECURE_CODE": sha(list(foreign.values()))})
    with pytest.raises(InvalidNotification):
        client.parse_notification(b"data=not-json", "application/x-www-form-urlencoded")


async def test_sign_ipn_reply_is_ordered_and_signed(client: VnptPayClient) -> None:
    reply = client.sign_ipn_reply("00", "ok", "ORD-1", "20260302003005")
    names = [
        "RESPONSE_CODE",
        "DESCRIPTION",
        "MERCHANT_SERVICE_ID",
        "MERCHANT_ORDER_ID",
        "CREATE_DATE",
    ]
    assert list(reply) == [*names, "SECURE_CODE"]
    assert reply["SECURE_CODE"] == sha(["00", "ok", MSID, "ORD-1", "20260302003005"])


async def test_ipn_reply_is_dated_by_the_clock() -> None:
    def clock() -> datetime:
        return datetime(2026, 3, 1, 17, 30, 5, tzinfo=UTC)

    async with VnptPayClient("http://127.0.0.1:9", MSID, API_KEY, SECRET, clock=clock) as client:
        reply = client.sign_ipn_reply("02", "repeat", "ORD-2")
    assert reply["CREATE_DATE"] == "20260302003005"
    assert reply["SECURE_CODE"] == sha(["02", "repeat", MSID, "ORD-2", "20260302003005"])
