"""The web chat page over plain HTTP: the page and its files are served from the package with
the right types and nothing from other hosts, its endpoints answer what the page renders, and
its Telegram-HTML renderer (``static/html.js``) passes its Node tests."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import segno
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sandbox.botapi import BotApiState, setup_botapi
from sandbox.webchat import create_webchat_app, setup_webchat

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "sandbox" / "webchat" / "static"
NODE_TEST = Path(__file__).with_name("webchat_html.test.js")
IN_CI = os.environ.get("CI", "").strip().lower() == "true"

TOKEN = "777001:webchat-test-token"
OWNER = {
    "id": 7001,
    "first_name": "An",
    "last_name": "Nguyễn",
    "label": "Chủ doanh nghiệp (owner)",
    "phone_number": "+84912345678",
}
AGENT = {"id": 7002, "first_name": "Bình", "label": "Hỗ trợ viên (agent)", "language_code": "en"}
LINKS = {"VNPT Pay simulator": "/vnptpay/_sim/transactions", "Trạng thái": "/_sim/state"}

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def state() -> BotApiState:
    state = BotApiState()
    state.add_bot(TOKEN, username="onesme_bot", first_name="oneSME")
    return state


@pytest.fixture
async def client(state: BotApiState) -> AsyncIterator[Client]:
    app = create_webchat_app(state, demo_users=[OWNER, AGENT], links=LINKS)
    async with TestClient(TestServer(app)) as client:
        yield client


async def result(response: aiohttp.ClientResponse) -> Any:
    body = await response.json()
    assert response.status == 200, body
    assert body["ok"] is True, body
    return body["result"]


async def bot_call(client: Client, method: str, **params: Any) -> Any:
    return await result(await client.post(f"/bot{TOKEN}/{method}", json=params))


async def bot_upload(client: Client, method: str, field: str, data: bytes, **fields: str) -> Any:
    form = aiohttp.FormData()
    for name, value in fields.items():
        if name not in ("filename", "content_type"):
            form.add_field(name, value)
    form.add_field(
        field,
        data,
        filename=fields.get("filename", "file"),
        content_type=fields.get("content_type", "application/octet-stream"),
    )
    return await result(await client.post(f"/bot{TOKEN}/{method}", data=form))


async def user_says(client: Client, user_id: int, text: str) -> Any:
    return await result(await client.post(f"/_sim/users/{user_id}/messages", json={"text": text}))


async def events(
    client: Client, user_id: int, after: int = 0, wait: float = 0, instance: str | None = None
) -> Any:
    params: dict[str, Any] = {"after": after, "timeout": wait}
    if instance is not None:
        params["instance"] = instance
    return await result(await client.get(f"/webchat/api/users/{user_id}/events", params=params))


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.testids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action") and value is not None:
                self.references.append(value)
            if name == "data-testid" and value is not None:
                self.testids.add(value)


# -- the page and its files ------------------------------------------------------------------


async def test_the_page_is_served_at_the_root(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    page = _References()
    page.feed(await response.text())
    assert page.references == [
        "data:,",
        "/webchat/static/style.css",
        "/webchat/static/html.js",
        "/webchat/static/app.js",
    ]
    assert {"user-picker", "composer", "send", "toast", "messages", "reply-keyboard", "alert"} <= (
        page.testids
    )


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("app.js", "text/javascript"), ("html.js", "text/javascript"), ("style.css", "text/css")],
)
async def test_static_files_come_from_the_package(
    client: Client, name: str, content_type: str
) -> None:
    response = await client.get(f"/webchat/static/{name}")
    assert response.status == 200
    assert response.content_type == content_type
    assert response.charset == "utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert await response.read() == (STATIC / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/webchat/static/missing.js",
        "/webchat/static/app.py",
        "/webchat/static/..%2Fapp.py",
        "/webchat/static/..%2F__init__.py",
        "/webchat/static/",
    ],
)
async def test_nothing_else_is_served_as_a_static_file(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404


@pytest.mark.parametrize("name", ["index.html", "app.js", "html.js", "style.css"])
def test_the_page_needs_no_other_host(name: str) -> None:
    text = (STATIC / name).read_text(encoding="utf-8")
    assert not re.search(r"https?://", text, re.IGNORECASE)
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?//""", text, re.IGNORECASE)
    assert not re.search(r"""url\(\s*["']?(?!data:)[^/"')]""", text)
    assert not re.search(r"""url\(\s*["']?//""", text)
    assert "@import" not in text


def test_page_references_are_local() -> None:
    page = _References()
    page.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    local = [ref for ref in page.references if ref != "data:,"]
    assert local
    assert all(ref.startswith("/webchat/static/") for ref in local), page.references


@pytest.mark.parametrize("name", ["app.js", "html.js"])
def test_scripts_never_hand_markup_to_the_browser(name: str) -> None:
    source = (STATIC / name).read_text(encoding="utf-8")
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "DOMParser",
        "createContextualFragment",
    ):
        assert sink not in source, f"{name} uses {sink}"


def test_the_page_script_exposes_the_hooks_browser_tests_use() -> None:
    source = (STATIC / "app.js").read_text(encoding="utf-8")
    for hook in (
        '"data-testid": "message"',
        '"data-from": from',
        '"data-testid": "inline-button"',
        '"data-testid": "reply-button"',
        '"data-testid": "photo"',
        '"data-testid": "document"',
        '"data-testid": "share-user"',
        '"data-testid": "users-shared"',
        "ui.status.dataset.action",
        "window.__webchat = webchat",
        "webchat.ready = true",
        "webchat.lastEventSeq = result.last",
    ):
        assert hook in source, hook


# -- the page's API --------------------------------------------------------------------------


async def test_config_lists_the_demo_users_then_the_others_and_the_links(
    client: Client, state: BotApiState
) -> None:
    other = await result(await client.post("/_sim/users", json={"first_name": "Khách"}))
    config = await result(await client.get("/webchat/api/config"))
    assert config["bot"] == {"id": 777001, "username": "onesme_bot", "first_name": "oneSME"}
    assert [(u["id"], u["label"], u["demo"]) for u in config["users"]] == [
        (7001, "Chủ doanh nghiệp (owner)", True),
        (7002, "Hỗ trợ viên (agent)", True),
        (other["id"], "Khách", False),
    ]
    owner = config["users"][0]
    assert (owner["first_name"], owner["last_name"], owner["phone_number"]) == (
        "An",
        "Nguyễn",
        "+84912345678",
    )
    assert config["users"][1]["language_code"] == "en"
    assert config["links"] == [
        {"label": "VNPT Pay simulator", "url": "/vnptpay/_sim/transactions"},
        {"label": "Trạng thái", "url": "/_sim/state"},
    ]


def test_demo_users_missing_from_the_state_are_created_and_others_kept() -> None:
    state = BotApiState()
    state.create_user("Already", user_id=7001, phone_number="+84900000000")
    create_webchat_app(state, demo_users=[OWNER, AGENT])
    assert (state.users[7001].first_name, state.users[7001].phone_number) == (
        "Already",
        "+84900000000",
    )
    agent = state.users[7002]
    assert (agent.first_name, agent.language_code, agent.phone_number) == ("Bình", "en", None)


async def test_config_without_demo_users_or_a_single_bot() -> None:
    state = BotApiState()
    state.add_bot("1:a")
    state.add_bot("2:b")
    state.create_user("Lan", user_id=9)
    async with TestClient(TestServer(create_webchat_app(state))) as client:
        config = await result(await client.get("/webchat/api/config"))
    assert config["bot"] is None
    assert [(u["id"], u["label"], u["demo"]) for u in config["users"]] == [(9, "Lan", False)]
    assert config["links"] == []


@pytest.mark.parametrize(
    "entry",
    [
        {"first_name": "No id"},
        {"id": "7001", "first_name": "Text id"},
        {"id": True, "first_name": "Bool id"},
        {"id": 1},
        {"id": 1, "first_name": "A", "name": "typo"},
    ],
)
def test_malformed_demo_users_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="demo user"):
        create_webchat_app(BotApiState(), demo_users=[entry])


async def test_events_are_one_chats_with_the_reply_keyboard_shown_after_them(
    client: Client,
) -> None:
    await user_says(client, 7001, "/start")
    await user_says(client, 7002, "/start")
    keyboard = {
        "keyboard": [[{"text": "📱 Chia sẻ số điện thoại", "request_contact": True}]],
        "resize_keyboard": True,
    }
    await bot_call(client, "sendMessage", chat_id=7001, text="Xin chào", reply_markup=keyboard)
    await bot_call(client, "sendMessage", chat_id=7002, text="Hello")

    first = await events(client, 7001)
    assert [(e["kind"], e["from_bot"], e["chat_id"]) for e in first["events"]] == [
        ("message", False, 7001),
        ("message", True, 7001),
    ]
    assert first["events"][1]["data"]["text"] == "Xin chào"
    assert first["last"] == 4
    assert first["keyboard"] == [
        [
            {
                "text": "📱 Chia sẻ số điện thoại",
                "kind": "request_contact",
                "callback_data": None,
                "url": None,
                "copy_text": None,
                "request_id": None,
            }
        ]
    ]

    await bot_call(client, "sendMessage", chat_id=7001, text="Cảm ơn")
    unchanged = await events(client, 7001, after=first["last"])
    assert [e["data"]["text"] for e in unchanged["events"]] == ["Cảm ơn"]
    assert unchanged["keyboard"] == first["keyboard"]

    await bot_call(
        client, "sendMessage", chat_id=7001, text="Xong", reply_markup={"remove_keyboard": True}
    )
    removed = await events(client, 7001, after=unchanged["last"])
    assert [e["data"]["text"] for e in removed["events"]] == ["Xong"]
    assert removed["keyboard"] is None


async def test_edits_deletions_and_callback_answers_reach_the_page(client: Client) -> None:
    await user_says(client, 7001, "/start")
    markup = {
        "inline_keyboard": [
            [{"text": "Chọn gói", "callback_data": "plan:1"}],
            [{"text": "Thanh toán", "url": "http://127.0.0.1:8080/vnptpay/pay/abc"}],
        ]
    }
    sent = await bot_call(
        client,
        "sendMessage",
        chat_id=7001,
        text="<b>Gói</b> <i>Pro</i>",
        parse_mode="HTML",
        reply_markup=markup,
    )
    start = (await events(client, 7001))["last"]
    pressed = await result(
        await client.post(
            "/_sim/users/7001/press",
            json={"message_id": sent["message_id"], "callback_data": "plan:1"},
        )
    )
    assert pressed["callback_query_id"]
    await bot_call(
        client,
        "answerCallbackQuery",
        callback_query_id=pressed["callback_query_id"],
        text="Đã chọn",
        show_alert=True,
    )
    await bot_call(
        client,
        "editMessageText",
        chat_id=7001,
        message_id=sent["message_id"],
        text="<b>Gói</b> đã chọn",
        parse_mode="HTML",
    )
    await bot_call(client, "deleteMessage", chat_id=7001, message_id=sent["message_id"])

    seen = await events(client, 7001, after=start)
    kinds = [e["kind"] for e in seen["events"]]
    assert kinds == ["callback_answer", "edit", "delete"]
    answer, edit, delete = seen["events"]
    assert (answer["data"]["text"], answer["data"]["show_alert"]) == ("Đã chọn", True)
    assert answer["data"]["message_id"] == sent["message_id"]
    assert (edit["data"]["html"], edit["data"]["edited"]) == ("<b>Gói</b> đã chọn", True)
    assert delete["message_id"] == sent["message_id"]


async def test_the_long_poll_answers_as_soon_as_the_chat_changes(client: Client) -> None:
    await user_says(client, 7001, "/start")
    polled = await events(client, 7001)
    started = time.monotonic()
    waiting = asyncio.create_task(
        events(client, 7001, after=polled["last"], wait=10, instance=polled["instance"])
    )
    await asyncio.sleep(0.1)
    await user_says(client, 7002, "not this chat")
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await bot_call(client, "sendChatAction", chat_id=7001, action="typing")
    answered = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 5
    assert [(e["kind"], e["data"]) for e in answered["events"]] == [
        ("chat_action", {"action": "typing"})
    ]


async def test_an_idle_long_poll_times_out_empty(client: Client, state: BotApiState) -> None:
    await user_says(client, 7002, "/start")
    started = time.monotonic()
    idle = await events(client, 7001, after=0, wait=0.2)
    assert 0.2 <= time.monotonic() - started < 3
    config = await result(await client.get("/webchat/api/config"))
    assert idle == {
        "instance": config["instance"],
        "events": [],
        "last": len(state.events),
        "keyboard": None,
    }


async def test_each_server_start_has_its_own_instance(state: BotApiState) -> None:
    """The page reloads the chat when the instance changes: event numbers restart with it."""
    instances = []
    for _ in range(2):
        app = create_webchat_app(state, demo_users=[OWNER])
        async with TestClient(TestServer(app)) as client:
            config = await result(await client.get("/webchat/api/config"))
            polled = await events(client, 7001)
            assert polled["instance"] == config["instance"]
            instances.append(config["instance"])
    assert instances[0] != instances[1]


async def test_a_poll_from_another_instance_is_answered_at_once(client: Client) -> None:
    config = await result(await client.get("/webchat/api/config"))
    started = time.monotonic()
    stale = await result(
        await client.get(
            "/webchat/api/users/7001/events",
            params={"after": 0, "timeout": 10, "instance": "previous-server"},
        )
    )
    assert time.monotonic() - started < 2
    assert stale["instance"] == config["instance"]
    assert stale["events"] == []


@pytest.mark.parametrize(
    "query", ["after=x", "after=0&timeout=soon", "after=1.5"], ids=["after", "timeout", "float"]
)
async def test_bad_event_requests_are_refused(client: Client, query: str) -> None:
    response = await client.get(f"/webchat/api/users/7001/events?{query}")
    assert response.status == 400
    assert (await response.json())["ok"] is False


async def test_events_need_one_bot() -> None:
    state = BotApiState()
    async with TestClient(TestServer(create_webchat_app(state))) as client:
        response = await client.get("/webchat/api/users/1/events?timeout=0")
        assert response.status == 400
        assert "0 bots registered" in (await response.json())["error"]


async def test_photos_and_documents_are_downloadable_for_the_page(client: Client) -> None:
    await user_says(client, 7001, "/start")
    buffer = io.BytesIO()
    segno.make("VNPTPAY|ORDER-1|1000000").save(buffer, kind="png", scale=4)
    png = buffer.getvalue()
    await bot_upload(
        client,
        "sendPhoto",
        "photo",
        png,
        chat_id="7001",
        caption="<b>Quét mã QR</b>",
        parse_mode="HTML",
        filename="qr.png",
        content_type="image/png",
    )
    pdf = b"%PDF-1.4\n% invoice\n"
    await bot_upload(
        client,
        "sendDocument",
        "document",
        pdf,
        chat_id="7001",
        filename="invoice-1.pdf",
        content_type="application/pdf",
    )
    history = await result(await client.get("/_sim/users/7001/history"))
    photo_message, document_message = history["messages"][1:]
    assert photo_message["html"] == "<b>Quét mã QR</b>"
    photo = await client.get(f"/_sim/files/{photo_message['photo']['file_id']}")
    assert (photo.status, photo.content_type) == (200, "image/png")
    assert await photo.read() == png
    document = document_message["document"]
    assert document["file_name"] == "invoice-1.pdf"
    assert document["file_size"] == len(pdf)
    download = await client.get(f"/_sim/files/{document['file_id']}")
    assert (download.status, download.content_type) == (200, "application/pdf")
    assert await download.read() == pdf


async def test_setup_adds_the_page_to_an_app_serving_the_bot_api(state: BotApiState) -> None:
    app = web.Application()
    setup_botapi(app, state)
    setup_webchat(app, state, demo_users=[OWNER])
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/")).status == 200
        me = await result(await client.get(f"/bot{TOKEN}/getMe"))
        assert me["username"] == "onesme_bot"
        overview = await result(await client.get("/_sim/state"))
        assert [u["id"] for u in overview["users"]] == [7001]
        assert (await client.get("/webchat/static/app.js")).status == 200


# -- the renderer, in Node -------------------------------------------------------------------


def test_the_html_renderer_passes_its_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is required in CI for the web chat renderer tests")
        pytest.skip("node is not installed")
    completed = subprocess.run(
        [node, "--test", str(NODE_TEST)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    assert passed is not None, output
    assert int(passed.group(1)) >= 10, output
    assert re.search(r"^# fail 0$", output, re.MULTILINE), output
