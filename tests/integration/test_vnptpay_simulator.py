"""The VNPT Pay simulator, driven over real HTTP exactly as the protocol page describes.

Nothing here uses the project's client or checksum code: requests are built and signatures
checked with ``hashlib`` directly from the page, so the simulator is tested as an independent
outside world.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiohttp import web

from sandbox.vnptpay import (
    RunningSimulator,
    SimulatorConfig,
    create_vnptpay_app,
    start_simulator,
)

MSID = "MS01"
API_KEY = "api-key-123"
SECRET = "sim-secret"
RETURN_URL = "http://merchant.example/payments/vnptpay/return?lang=vi"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
INIT_PATH = "/rest/payment/v1.0.6/init"
QUERY_PATH = "/rest/payment/v1.0.6/query"
IPN_FIELDS = [
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
]
REPLY_FIELDS = [
    "RESPONSE_CODE",
    "DESCRIPTION",
    "MERCHANT_SERVICE_ID",
    "MERCHANT_ORDER_ID",
    "CREATE_DATE",
]
NBSP = "\u00a0"


def sha(values: list[str], secret: str = SECRET) -> str:
    return hashlib.sha256("|".join([*values, secret]).encode("utf-8")).hexdigest()


def vn_now() -> str:
    return datetime.now(VN).strftime("%Y%m%d%H%M%S")


def future_expiry() -> str:
    return f"12/{(datetime.now(VN).year + 2) % 100:02d}"


def init_body(order_id: str, amount: int = 1_800_000, msid: str = MSID) -> dict[str, str]:
    values = {
        "ACTION": "INIT",
        "VERSION": "1.0.6",
        "MERCHANT_SERVICE_ID": msid,
        "MERCHANT_ORDER_ID": order_id,
        "AMOUNT": str(amount),
        "SERVICE_ID": "1",
        "DEVICE": "1",
        "LOCALE": "vi-VN",
        "CURRENCY_CODE": "VND",
        "PAYMENT_METHOD": "VNPTPAY",
        "DESCRIPTION": "Goi Co ban SmartCA 12 thang",
        "CREATE_DATE": vn_now(),
        "CLIENT_IP": "127.0.0.1",
    }
    return {**values, "SECURE_CODE": sha(list(values.values()))}


def query_body(order_id: str, create_date: str) -> dict[str, str]:
    values = {
        "ACTION": "QUERY",
        "VERSION": "1.0.6",
        "MERCHANT_SERVICE_ID": MSID,
        "MERCHANT_ORDER_ID": order_id,
        "CREATE_DATE": create_date,
    }
    return {**values, "SECURE_CODE": sha(list(values.values()))}


def form_action(page: httpx.Response) -> str:
    """The page's form target, resolved against the page's URL."""
    match = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert match, "no form on the page"
    return str(page.url.join(unescape(match.group(1))))


def location(response: httpx.Response) -> str:
    return str(response.url.join(response.headers["location"]))


@dataclass
class Received:
    content_type: str
    fields: dict[str, str]
    keys: list[str]


@dataclass
class Receiver:
    """A tiny merchant IPN endpoint that checks nothing itself and replies as told."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200
    reply_code: Callable[[int], str] = lambda n: "00"
    sign_reply_wrongly: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_type == "application/json":
            obj = json.loads(await request.text())
        else:
            form = await request.post()
            assert list(form.keys()) == ["data"]
            obj = json.loads(str(form["data"]))
        fields = {k: str(v) for k, v in obj.items()}
        self.received.append(Received(request.content_type, fields, list(obj)))
        self.arrived.set()
        if self.status != 200:
            return web.Response(status=self.status, text="boom")
        values = {
            "RESPONSE_CODE": self.reply_code(len(self.received)),
            "DESCRIPTION": "ok",
            "MERCHANT_SERVICE_ID": MSID,
            "MERCHANT_ORDER_ID": fields.get("MERCHANT_ORDER_ID", ""),
            "CREATE_DATE": vn_now(),
        }
        secret = SECRET + ("x" if self.sign_reply_wrongly else "")
        return web.json_response({**values, "SECURE_CODE": sha(list(values.values()), secret)})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/ipn", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/ipn"
    yield rec
    await runner.cleanup()


def make_config(ipn_url: str) -> SimulatorConfig:
    return SimulatorConfig(
        merchant_service_id=MSID,
        api_key=API_KEY,
        secret_key=SECRET,
        return_url=RETURN_URL,
        ipn_url=ipn_url,
        public_base_url="",
        merchant_name="Công ty Cổ phần Thử Nghiệm",
        ipn_retry_delay=0.01,
        ipn_timeout=2.0,
        max_clock_skew_seconds=600,
    )


@pytest.fixture
async def sim(receiver: Receiver) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(make_config(receiver.url))
    yield running
    await running.stop()


@pytest.fixture
async def http(sim: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=5.0) as client:
        yield client


async def create(http: httpx.AsyncClient, order_id: str, amount: int = 1_800_000) -> str:
    response = await http.post(INIT_PATH, json=init_body(order_id, amount))
    assert response.status_code == 200
    data = response.json()
    assert data["RESPONSE_CODE"] == "00", data
    return str(data["REDIRECT_URL"])


async def pay_by_card(
    http: httpx.AsyncClient, redirect_url: str, number: str, action: str = "pay"
) -> httpx.Response:
    page = await http.get(redirect_url)
    chosen = await http.post(form_action(page), data={"method": "intl", "action": "next"})
    assert chosen.status_code == 303
    card_page = await http.get(location(chosen))
    assert card_page.status_code == 200
    for label in ("Số thẻ", "Tên chủ thẻ", "MM/YY", "CVV", "Thanh toán", "Hủy"):
        assert label in card_page.text
    return await http.post(
        form_action(card_page),
        data={
            "card_number": number,
            "holder": "NGUYEN VAN A",
            "expiry": future_expiry(),
            "cvv": "123",
            "action": action,
        },
    )


def return_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(RETURN_URL + "&")
    query = parse_qs(urlsplit(location).query)
    assert list(query) == ["lang", "vnptpayResponseCode", "data", "secureCode"]
    return {k: v[0] for k, v in query.items()}


async def transaction(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    rows = (await http.get("/_sim/transactions")).json()
    return next(row for row in rows if row["merchant_order_id"] == order_id)


async def notifications(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await http.get("/_sim/notifications")).json())


def assert_well_signed_ipn(received: Received) -> None:
    assert received.keys == [*IPN_FIELDS, "SECURE_CODE"]
    values = [received.fields[name] for name in IPN_FIELDS]
    assert received.fields["SECURE_CODE"] == sha(values)


# --- the payer's HTML flow ------------------------------------------------------------------


async def test_international_card_success_flow(
    http: httpx.AsyncClient, receiver: Receiver, sim: RunningSimulator
) -> None:
    url = await create(http, "ORD-HTML-1")
    assert url.startswith(f"{sim.base_url}/pay/")

    page = await http.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    for expected in (
        "Công ty Cổ phần Thử Nghiệm",
        "ORD-HTML-1",
        f"1.800.000{NBSP}₫",
        "Goi Co ban SmartCA 12 thang",
        "Ví VNPT Pay",
        "Thẻ ATM nội địa",
        "Thẻ thanh toán quốc tế",
        "Tiếp theo",
    ):
        assert expected in text
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in text

    response = await pay_by_card(http, url, "4111 1111 1111 1111")
    params = return_params(response)
    assert params["vnptpayResponseCode"] == "00"
    assert params["data"] == "ORD-HTML-1"
    assert params["secureCode"] == sha(["ORD-HTML-1", "00"])

    assert len(receiver.received) == 1  # sent before the browser was redirected
    ipn = receiver.received[0]
    assert ipn.content_type == "application/x-www-form-urlencoded"
    assert_well_signed_ipn(ipn)
    assert ipn.fields["ACTION"] == "CONFIRM"
    assert ipn.fields["RESPONSE_CODE"] == "00"
    assert ipn.fields["MERCHANT_SERVICE_ID"] == MSID
    assert ipn.fields["AMOUNT"] == "1800000"
    assert ipn.fields["CURRENCY_CODE"] == "VND"
    assert ipn.fields["PAYMENT_METHOD"] == "INTERNATIONAL_CARD"
    assert ipn.fields["ADDITIONAL_INFO"] == ""
    assert re.fullmatch(r"[0-9]{14}", ipn.fields["PAY_DATE"])
    assert ipn.fields["VNPTPAY_TRANSACTION_ID"]

    tx = await transaction(http, "ORD-HTML-1")
    assert tx["status"] == "50"
    assert tx["transaction_id"] == ipn.fields["VNPTPAY_TRANSACTION_ID"]
    assert tx["card_last4"] == "1111"
    assert tx["notification"] == "delivered"
    sent = await notifications(http)
    assert len(sent) == 1
    assert sent[0]["accepted"] is True
    assert sent[0]["reply_checksum_ok"] is True
    assert sent[0]["reply_fields_in_order"] is True
    assert sent[0]["reply_code"] == "00"

    again = await http.get(url)
    assert "Thanh toán thành công" in again.text
    assert "Tiếp theo" not in again.text
    card_again = await http.post(
        url + "/card",
        data={"card_number": "4111111111111111", "holder": "A", "expiry": future_expiry()},
    )
    assert card_again.status_code == 200
    assert "Thanh toán thành công" in card_again.text
    assert len(receiver.received) == 1
    assert (await transaction(http, "ORD-HTML-1"))["transaction_id"] == tx["transaction_id"]


async def test_declined_card_returns_01(http: httpx.AsyncClient, receiver: Receiver) -> None:
    url = await create(http, "ORD-DECLINE")
    params = return_params(await pay_by_card(http, url, "4000000000000002"))
    assert params["vnptpayResponseCode"] == "01"
    assert params["secureCode"] == sha(["ORD-DECLINE", "01"])
    assert (await transaction(http, "ORD-DECLINE"))["status"] == "55"
    assert receiver.received[0].fields["RESPONSE_CODE"] == "01"
    assert_well_signed_ipn(receiver.received[0])


async def test_other_luhn_valid_card_succeeds(http: httpx.AsyncClient) -> None:
    url = await create(http, "ORD-OTHER-CARD")
    params = return_params(await pay_by_card(http, url, "5555555555554444"))
    assert params["vnptpayResponseCode"] == "00"


async def test_non_luhn_card_is_refused_on_the_form(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    url = await create(http, "ORD-LUHN")
    response = await pay_by_card(http, url, "4111111111111112")
    assert response.status_code == 422
    assert "Số thẻ không hợp lệ" in response.text
    assert 'name="card_number"' in response.text
    assert "Thanh toán" in response.text
    tx = await transaction(http, "ORD-LUHN")
    assert tx["status"] == "5"
    assert tx["response_code"] == ""
    assert receiver.received == []
    params = return_params(await pay_by_card(http, url, "4111111111111111"))
    assert params["vnptpayResponseCode"] == "00"


async def test_cancel_on_the_card_form_returns_70(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    url = await create(http, "ORD-CANCEL")
    params = return_params(await pay_by_card(http, url, "", action="cancel"))
    assert params["vnptpayResponseCode"] == "70"
    assert params["secureCode"] == sha(["ORD-CANCEL", "70"])
    assert (await transaction(http, "ORD-CANCEL"))["status"] == "55"
    assert receiver.received[0].fields["RESPONSE_CODE"] == "70"


async def test_cancel_on_the_first_page_keeps_an_empty_method_slot(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    url = await create(http, "ORD-CANCEL-EARLY")
    page = await http.get(url)
    params = return_params(await http.post(form_action(page), data={"action": "cancel"}))
    assert params["vnptpayResponseCode"] == "70"
    ipn = receiver.received[0]
    assert ipn.fields["PAYMENT_METHOD"] == ""
    assert_well_signed_ipn(ipn)


async def test_next_without_a_method_stays_on_the_page(http: httpx.AsyncClient) -> None:
    url = await create(http, "ORD-NO-METHOD")
    page = await http.get(url)
    response = await http.post(form_action(page), data={"action": "next"})
    assert response.status_code == 422
    assert "Vui lòng chọn phương thức thanh toán" in response.text
    assert (await transaction(http, "ORD-NO-METHOD"))["status"] == "0"


@pytest.mark.parametrize(
    ("method", "label", "code"),
    [("wallet", "Ví VNPT Pay", "VNPTPAY"), ("atm", "Thẻ ATM nội địa", "ATM")],
)
async def test_demo_methods_pay(
    http: httpx.AsyncClient, receiver: Receiver, method: str, label: str, code: str
) -> None:
    url = await create(http, f"ORD-{method}")
    page = await http.get(url)
    chosen = await http.post(form_action(page), data={"method": method, "action": "next"})
    demo = await http.get(location(chosen))
    assert label in demo.text
    response = await http.post(form_action(demo), data={"action": "pay"})
    assert return_params(response)["vnptpayResponseCode"] == "00"
    assert receiver.received[0].fields["PAYMENT_METHOD"] == code


async def test_unknown_token_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/pay/no-such-token")
    assert response.status_code == 404
    assert "Không tìm thấy giao dịch" in response.text


# --- the notification: retries --------------------------------------------------------------


async def test_notification_retried_three_times_on_a_failing_receiver(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 500
    url = await create(http, "ORD-RETRY")
    params = return_params(await pay_by_card(http, url, "4111111111111111"))
    assert params["vnptpayResponseCode"] == "00"  # the browser still returns
    assert len(receiver.received) == 4  # the first attempt and 3 retries
    assert all(r.fields == receiver.received[0].fields for r in receiver.received)
    sent = await notifications(http)
    assert [n["attempt"] for n in sent] == [1, 2, 3, 4]
    assert all(n["http_status"] == 500 and not n["accepted"] for n in sent)
    assert (await transaction(http, "ORD-RETRY"))["notification"] == "failed"


@pytest.mark.parametrize("code", ["01", "07", "08", "99"])
async def test_notification_retried_on_a_refusing_reply(
    http: httpx.AsyncClient, receiver: Receiver, code: str
) -> None:
    receiver.reply_code = lambda n: code
    url = await create(http, f"ORD-REFUSED-{code}")
    await pay_by_card(http, url, "4111111111111111")
    assert len(receiver.received) == 4


async def test_notification_retried_until_accepted(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply_code = lambda n: "08" if n < 3 else "00"
    url = await create(http, "ORD-BUSY-MERCHANT")
    await pay_by_card(http, url, "4111111111111111")
    assert len(receiver.received) == 3
    tx = await transaction(http, "ORD-BUSY-MERCHANT")
    assert tx["notification"] == "delivered"
    assert tx["notification_reply_code"] == "00"


async def test_notification_not_retried_after_02(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.reply_code = lambda n: "02"
    url = await create(http, "ORD-REPEAT")
    await pay_by_card(http, url, "4111111111111111")
    assert len(receiver.received) == 1
    assert (await notifications(http))[0]["accepted"] is True


async def test_reply_with_a_bad_checksum_is_retried(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.sign_reply_wrongly = True
    url = await create(http, "ORD-BAD-REPLY")
    await pay_by_card(http, url, "4111111111111111")
    assert len(receiver.received) == 4
    sent = await notifications(http)
    assert all(n["reply_code"] == "00" and n["reply_checksum_ok"] is False for n in sent)


# --- the switches ---------------------------------------------------------------------------


async def test_switch_drop_notification(http: httpx.AsyncClient, receiver: Receiver) -> None:
    assert (await http.post("/_sim/switches", json={"drop_notification": True})).status_code == 200
    url = await create(http, "ORD-DROP")
    assert return_params(await pay_by_card(http, url, "4111111111111111"))
    assert receiver.received == []
    assert await notifications(http) == []
    assert (await transaction(http, "ORD-DROP"))["notification"] == "dropped"


async def test_switch_delay_notification(http: httpx.AsyncClient, receiver: Receiver) -> None:
    await http.post("/_sim/switches", json={"notification_delay": 0.5})
    url = await create(http, "ORD-DELAY")
    response = await pay_by_card(http, url, "4111111111111111")
    assert return_params(response)["vnptpayResponseCode"] == "00"
    assert receiver.received == []  # the browser is back before the notification
    assert (await transaction(http, "ORD-DELAY"))["notification"] == "scheduled"
    await asyncio.wait_for(receiver.arrived.wait(), timeout=5)
    assert_well_signed_ipn(receiver.received[0])


async def test_switch_send_twice(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.reply_code = lambda n: "00" if n == 1 else "02"
    await http.post("/_sim/switches", json={"notification_twice": True})
    url = await create(http, "ORD-TWICE")
    await pay_by_card(http, url, "4111111111111111")
    assert len(receiver.received) == 2
    assert receiver.received[0].fields == receiver.received[1].fields
    sent = await notifications(http)
    assert [(n["repeat"], n["reply_code"]) for n in sent] == [(False, "00"), (True, "02")]


async def test_switch_sign_wrongly(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.reply_code = lambda n: "07"
    await http.post("/_sim/switches", json={"notification_bad_checksum": True})
    url = await create(http, "ORD-BADSIG")
    await pay_by_card(http, url, "4111111111111111")
    ipn = receiver.received[0]
    assert ipn.keys == [*IPN_FIELDS, "SECURE_CODE"]
    assert ipn.fields["SECURE_CODE"] != sha([ipn.fields[n] for n in IPN_FIELDS])
    assert len(receiver.received) == 4


async def test_switch_change_amount(http: httpx.AsyncClient, receiver: Receiver) -> None:
    await http.post("/_sim/switches", json={"notification_amount_delta": -1000})
    url = await create(http, "ORD-AMOUNT", amount=500_000)
    await pay_by_card(http, url, "4111111111111111")
    ipn = receiver.received[0]
    assert ipn.fields["AMOUNT"] == "499000"
    assert_well_signed_ipn(ipn)  # correctly signed: only the amount check can catch it


async def test_switch_notification_as_json(http: httpx.AsyncClient, receiver: Receiver) -> None:
    await http.post("/_sim/switches", json={"notification_as_json": True})
    url = await create(http, "ORD-JSON")
    await pay_by_card(http, url, "4111111111111111")
    assert receiver.received[0].content_type == "application/json"
    assert_well_signed_ipn(receiver.received[0])


async def test_switches_on_the_config_object(
    http: httpx.AsyncClient, receiver: Receiver, sim: RunningSimulator
) -> None:
    sim.config.switches.drop_notification = True
    url = await create(http, "ORD-CONFIG-SWITCH")
    await pay_by_card(http, url, "4111111111111111")
    assert receiver.received == []
    assert (await http.get("/_sim/switches")).json()["drop_notification"] is True


async def test_switch_init_timeout_once_records_the_order(
    http: httpx.AsyncClient, sim: RunningSimulator
) -> None:
    await http.post("/_sim/switches", json={"init_timeouts": 1, "init_timeout_seconds": 1.0})
    with pytest.raises(httpx.ReadTimeout):
        await http.post(INIT_PATH, json=init_body("ORD-SLOW"), timeout=0.2)
    assert (await transaction(http, "ORD-SLOW"))["status"] == "0"
    fast = await http.post(INIT_PATH, json=init_body("ORD-FAST"), timeout=0.5)
    assert fast.json()["RESPONSE_CODE"] == "00"  # only once
    assert (await http.get("/_sim/switches")).json()["init_timeouts"] == 0


async def test_switch_init_timeout_lost_records_nothing(http: httpx.AsyncClient) -> None:
    await http.post(
        "/_sim/switches",
        json={"init_timeouts": 1, "init_timeout_seconds": 0.6, "init_timeout_lost": True},
    )
    with pytest.raises(httpx.ReadTimeout):
        await http.post(INIT_PATH, json=init_body("ORD-LOST"), timeout=0.2)
    await asyncio.sleep(0.6)
    assert (await http.get("/_sim/transactions")).json() == []
    assert (await http.post(INIT_PATH, json=init_body("ORD-LOST"))).json()["RESPONSE_CODE"] == "00"


async def test_switch_init_bad_checksum(http: httpx.AsyncClient) -> None:
    await http.post("/_sim/switches", json={"init_bad_checksum": True})
    data = (await http.post(INIT_PATH, json=init_body("ORD-BADINIT"))).json()
    values = [
        data[n]
        for n in (
            "RESPONSE_CODE",
            "DESCRIPTION",
            "MERCHANT_SERVICE_ID",
            "MERCHANT_ORDER_ID",
            "REDIRECT_URL",
        )
    ]
    assert data["RESPONSE_CODE"] == "00"
    assert data["SECURE_CODE"] != sha(values)


async def test_switch_query_busy_and_bad_checksum(http: httpx.AsyncClient) -> None:
    body = init_body("ORD-Q")
    await create_with(http, body)
    await http.post("/_sim/switches", json={"query_busy": True})
    data = (await http.post(QUERY_PATH, json=query_body("ORD-Q", body["CREATE_DATE"]))).json()
    assert data["TRANSACTION_STATUS"] == "-99"
    assert_query_signed(data)
    await http.post("/_sim/switches", json={"query_busy": False, "query_bad_checksum": True})
    data = (await http.post(QUERY_PATH, json=query_body("ORD-Q", body["CREATE_DATE"]))).json()
    assert data["TRANSACTION_STATUS"] == "0"
    with pytest.raises(AssertionError):
        assert_query_signed(data)


@pytest.mark.parametrize(
    "change", [{"no_such_switch": True}, {"drop_notification": "yes"}, {"notification_delay": "1"}]
)
async def test_bad_switch_updates_are_refused(
    http: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    before = (await http.get("/_sim/switches")).json()
    response = await http.post("/_sim/switches", json=change)
    assert response.status_code == 400
    assert (await http.get("/_sim/switches")).json() == before


# --- the merchant API -----------------------------------------------------------------------

QUERY_ANSWER = [
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
]


def assert_query_signed(data: dict[str, str]) -> None:
    assert list(data) == [*QUERY_ANSWER, "SECURE_CODE"]
    assert data["SECURE_CODE"] == sha([data[n] for n in QUERY_ANSWER])


async def create_with(http: httpx.AsyncClient, body: dict[str, str]) -> dict[str, str]:
    data: dict[str, str] = (await http.post(INIT_PATH, json=body)).json()
    return data


async def test_init_answer_is_signed_in_order(http: httpx.AsyncClient) -> None:
    data = await create_with(http, init_body("ORD-SIGNED"))
    names = [
        "RESPONSE_CODE",
        "DESCRIPTION",
        "MERCHANT_SERVICE_ID",
        "MERCHANT_ORDER_ID",
        "REDIRECT_URL",
    ]
    assert list(data) == [*names, "SECURE_CODE"]
    assert data["SECURE_CODE"] == sha([data[n] for n in names])
    assert data["MERCHANT_ORDER_ID"] == "ORD-SIGNED"


def _tamper(body: dict[str, str], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda b: _tamper(b, SECURE_CODE="0" * 64), "07"),
        (lambda b: _tamper(b, AMOUNT="1800001"), "07"),
        (lambda b: {k: v for k, v in b.items() if k != "CLIENT_IP"}, "02"),
        (lambda b: _tamper(b, AMOUNT=1800000), "02"),
        (lambda b: _tamper(b, EXTRA="x"), "02"),
        (lambda b: init_body("ORD-API", msid="OTHER"), "09"),
        (lambda b: init_body("ORD API"), "02"),
        (lambda b: init_body("ORD-API", amount=0), "02"),
    ],
)
async def test_init_refusals(
    http: httpx.AsyncClient, make: Callable[[dict[str, str]], dict[str, Any]], code: str
) -> None:
    data = await create_with(http, make(init_body("ORD-API")))
    assert data["RESPONSE_CODE"] == code, data
    assert data["REDIRECT_URL"] == ""
    assert (await http.get("/_sim/transactions")).json() == []


async def test_init_refuses_a_utc_create_date(http: httpx.AsyncClient) -> None:
    values = dict(init_body("ORD-UTC"))
    values.pop("SECURE_CODE")
    values["CREATE_DATE"] = datetime.now(ZoneInfo("UTC")).strftime("%Y%m%d%H%M%S")
    data = await create_with(http, {**values, "SECURE_CODE": sha(list(values.values()))})
    assert data["RESPONSE_CODE"] == "02"
    assert "CREATE_DATE" in data["DESCRIPTION"]


async def test_init_duplicate_order_id_is_03(http: httpx.AsyncClient) -> None:
    assert (await create_with(http, init_body("ORD-DUP")))["RESPONSE_CODE"] == "00"
    assert (await create_with(http, init_body("ORD-DUP")))["RESPONSE_CODE"] == "03"


async def test_init_without_the_api_key_is_401(http: httpx.AsyncClient) -> None:
    response = await http.post(
        INIT_PATH, json=init_body("ORD-NOKEY"), headers={"Authorization": "Bearer wrong"}
    )
    assert response.status_code == 401
    assert (await http.get("/_sim/transactions")).json() == []


async def test_query_answers(http: httpx.AsyncClient) -> None:
    body = init_body("ORD-QUERY")
    await create_with(http, body)
    missing = (await http.post(QUERY_PATH, json=query_body("ORD-NONE", body["CREATE_DATE"]))).json()
    assert missing["RESPONSE_CODE"] == "05"
    assert_query_signed(missing)
    other_date = (
        await http.post(QUERY_PATH, json=query_body("ORD-QUERY", "20200101000000"))
    ).json()
    assert other_date["RESPONSE_CODE"] == "05"

    created = (
        await http.post(QUERY_PATH, json=query_body("ORD-QUERY", body["CREATE_DATE"]))
    ).json()
    assert_query_signed(created)
    assert (created["RESPONSE_CODE"], created["TRANSACTION_STATUS"]) == ("00", "0")
    assert created["AMOUNT"] == "1800000"

    paid = await http.post(
        "/_sim/pay/ORD-QUERY",
        json={"card": "4111111111111111", "holder": "A", "expiry": future_expiry(), "cvv": "123"},
    )
    assert paid.status_code == 200
    done = (await http.post(QUERY_PATH, json=query_body("ORD-QUERY", body["CREATE_DATE"]))).json()
    assert_query_signed(done)
    assert done["TRANSACTION_STATUS"] == "50"
    assert done["VNPTPAY_TRANSACTION_ID"] == paid.json()["transaction"]["transaction_id"]
    assert re.fullmatch(r"[0-9]{14}", done["PAY_DATE"])

    bad = query_body("ORD-QUERY", body["CREATE_DATE"])
    bad["SECURE_CODE"] = sha(list(bad.values())[:-1], "wrong")
    assert (await http.post(QUERY_PATH, json=bad)).json()["RESPONSE_CODE"] == "07"


async def test_sim_pay_endpoint(http: httpx.AsyncClient, receiver: Receiver) -> None:
    assert (await http.post("/_sim/pay/ORD-NONE", json={"action": "cancel"})).status_code == 404
    await create(http, "ORD-SIMPAY")
    refused = await http.post(
        "/_sim/pay/ORD-SIMPAY",
        json={"card": "1234567812345678", "holder": "A", "expiry": future_expiry(), "cvv": "1"},
    )
    assert refused.status_code == 422
    assert "Số thẻ" in refused.json()["error"]
    cancelled = await http.post("/_sim/pay/ORD-SIMPAY", json={"action": "cancel"})
    assert cancelled.json()["response_code"] == "70"
    assert cancelled.json()["location"].startswith(RETURN_URL)
    again = await http.post("/_sim/pay/ORD-SIMPAY", json={"method": "wallet"})
    assert again.status_code == 409
    assert len(receiver.received) == 1


async def test_mounted_as_a_sub_application(receiver: Receiver) -> None:
    config = make_config(receiver.url)
    parent = web.Application()
    parent.add_subapp("/vnptpay", create_vnptpay_app(config))
    runner = web.AppRunner(parent, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}/vnptpay"
    config.public_base_url = base
    try:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5.0) as http:
            url = await create(http, "ORD-MOUNTED")
            assert url.startswith(f"{base}/pay/")
            page = await http.get(url)
            assert form_action(page).startswith(f"{base}/pay/")
            params = return_params(await pay_by_card(http, url, "4111111111111111"))
            assert params["vnptpayResponseCode"] == "00"
            assert len(receiver.received) == 1
    finally:
        await runner.cleanup()
