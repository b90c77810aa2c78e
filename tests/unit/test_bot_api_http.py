"""bot/bot_api_http.py: the lean keep-alive client of the JSON Bot API calls, against a raw
server on the loopback that answers with the bytes each test scripts."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage

from bot.bot_api_http import JsonPoster, ServerDisconnected
from bot.session import BotSession
from bot.telegram_policy import is_transient

TOKEN = "42:http-test-token"
OK = b'{"ok":true,"result":true}'


def response(body: bytes = OK, *, status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


Answerer = Callable[[int, bytes], bytes | None]


class Server:
    """Reads each request (head + Content-Length body) and writes what ``answer(n, request)``
    returns (n counts requests on all connections); None: close the connection instead."""

    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        self.writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(len(self.requests), request)
                if asyncio.iscoroutine(answer):
                    answer = await answer
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def serving(
    answer: Answerer, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[Server, int]]:
    server = Server(answer)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=ssl_context)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield server, port
    finally:
        for writer in server.writers:
            writer.close()
        listener.close()
        await listener.wait_closed()


def poster(**kwargs: object) -> JsonPoster:
    return JsonPoster(user_agent="test-agent", **kwargs)  # type: ignore[arg-type]


async def test_the_request_is_one_json_post_and_the_connection_is_kept() -> None:
    async with serving(lambda n, _: response(b'{"n": %d}' % n)) as (server, port):
        client = poster()
        url = f"http://127.0.0.1:{port}/bot{TOKEN}/sendMessage"
        first = await client.post(url, b'{"chat_id":1}', 5)
        second = await client.post(url, b'{"chat_id":2}', 5)
        await client.close()
    assert (first.status, json.loads(first.text), json.loads(second.text)) == (
        200,
        {"n": 1},
        {"n": 2},
    )
    assert server.connections == 1
    assert (
        server.requests[0]
        == (
            f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: test-agent\r\nAccept: */*\r\nContent-Type: application/json\r\n"
            'Content-Length: 13\r\n\r\n{"chat_id":1}'
        ).encode()
    )


@pytest.mark.parametrize(
    "raw",
    [
        response(b'{"a": "\xc3\xa1"}'),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"a":\r\n6\r\n "\xc3\xa1"}\r\n0\r\nX-Trailer: t\r\n\r\n',
        b"HTTP/1.1 100 Continue\r\n\r\n" + response(b'{"a": "\xc3\xa1"}'),
        response(gzip.compress(b'{"a": "\xc3\xa1"}'), headers=("Content-Encoding: gzip",)),
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=latin-1\r\n"
        b'Content-Length: 10\r\n\r\n{"a": "\xe1"}',
    ],
    ids=["length", "chunked", "interim-100", "gzip", "charset"],
)
async def test_answers_are_read_whatever_their_framing(raw: bytes) -> None:
    async with serving(lambda n, _: raw) as (server, port):
        client = poster()
        url = f"http://127.0.0.1:{port}/x"
        answers = [await client.post(url, b"{}", 5) for _ in range(2)]
        await client.close()
    assert [json.loads(a.text) for a in answers] == [{"a": "á"}, {"a": "á"}]
    assert server.connections == 1  # each answer read to its end: the connection kept


async def test_an_answer_up_to_the_connections_end_and_connection_close() -> None:
    def answer(n: int, _: bytes) -> bytes:
        if n == 1:
            return response(headers=("Connection: close",))
        if n == 2:
            return b"HTTP/1.1 200 OK\r\n\r\n" + OK  # no length: up to the end
        return response()

    served: list[bytes] = []

    def serve(n: int, request: bytes) -> bytes:
        served.append(request)
        return answer(n, request)

    async with serving(serve) as (server, port):
        client = poster()
        url = f"http://127.0.0.1:{port}/x"
        first = await client.post(url, b"{}", 5)
        # the server keeps the second connection open after an answer without a length: the
        # client cannot know it ended, so the test's server closes it
        task = asyncio.create_task(client.post(url, b"{}", 5))
        for _ in range(100):  # the second request is in
            if len(served) >= 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        server.writers[-1].close()
        second = await task
        third = await client.post(url, b"{}", 5)
        await client.close()
    assert [first.text, second.text, third.text] == [OK.decode()] * 3
    assert server.connections == 3  # none of them reused


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async with serving(lambda n, _: response()) as (server, port):
        client = poster()
        url = f"http://127.0.0.1:{port}/x"
        await client.post(url, b"{}", 5)
        server.writers[0].close()
        await asyncio.sleep(0.05)
        answer = await client.post(url, b"{}", 5)
        await client.close()
    assert answer.status == 200 and server.connections == 2


async def test_an_idle_connection_older_than_keepalive_is_not_reused() -> None:
    async with serving(lambda n, _: response()) as (server, port):
        client = poster(keepalive=0.0)
        url = f"http://127.0.0.1:{port}/x"
        await client.post(url, b"{}", 5)
        await asyncio.sleep(0.01)
        await client.post(url, b"{}", 5)
        await client.close()
    assert server.connections == 2


async def test_a_connection_closed_before_the_answer_ended_is_an_error() -> None:
    async with serving(lambda n, _: response(b'{"ok": true}')[:-3] if n == 1 else None) as (
        server,
        port,
    ):
        client = poster()
        url = f"http://127.0.0.1:{port}/x"
        task = asyncio.create_task(client.post(url, b"{}", 5))
        await asyncio.sleep(0.1)
        server.writers[0].close()
        with pytest.raises(ServerDisconnected):
            await task
        with pytest.raises(ServerDisconnected):  # the server closes without answering
            await client.post(url, b"{}", 5)
        await client.close()
    assert issubclass(ServerDisconnected, OSError)


async def test_a_timeout_ends_the_call_and_its_connection() -> None:
    async def slow(n: int, _: bytes) -> bytes:
        if n == 1:
            await asyncio.sleep(1)
        return response()

    async with serving(slow) as (server, port):  # type: ignore[arg-type]
        client = poster()
        url = f"http://127.0.0.1:{port}/x"
        with pytest.raises(TimeoutError):
            await client.post(url, b"{}", 0.1)
        answer = await client.post(url, b"{}", 5)
        await client.close()
    assert answer.status == 200 and server.connections == 2  # the late answer not read as it


async def test_at_most_limit_connections_at_once() -> None:
    async def answer(n: int, _: bytes) -> bytes:
        await asyncio.sleep(0.05)
        return response()

    async with serving(answer) as (server, port):  # type: ignore[arg-type]
        client = poster(limit=2)
        url = f"http://127.0.0.1:{port}/x"
        answers = await asyncio.gather(*(client.post(url, b"{}", 5) for _ in range(6)))
        await client.close()
    assert [a.status for a in answers] == [200] * 6
    assert server.most_open == 2 and server.connections == 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the certificate")
async def test_https(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
    command += ["-addext", "subjectAltName=DNS:localhost"]
    subprocess.run(command, check=True, capture_output=True)  # noqa: ASYNC221 - test set-up
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    async with serving(lambda n, _: response(), server_context) as (server, port):
        client = poster(ssl=client_context)
        url = f"https://localhost:{port}/x"
        answers = [await client.post(url, b"{}", 5) for _ in range(2)]
        await client.close()
        untrusted = poster()  # the default context does not trust the test's certificate
        with pytest.raises(ssl.SSLError):
            await untrusted.post(url, b"{}", 5)
        await untrusted.close()
    assert [a.text for a in answers] == [OK.decode()] * 2 and server.connections == 1
    assert server.requests[0].startswith(b"POST /x HTTP/1.1\r\nHost: localhost:")


# through BotSession: aiogram's errors, as with aiohttp


async def session_call(answer: Answerer, *, timeout: float = 5) -> object:  # noqa: ASYNC109
    async with serving(answer) as (_, port):
        session = BotSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"))
        bot = Bot(TOKEN, session=session)
        try:
            return await bot(SendMessage(chat_id=5, text="x"), request_timeout=timeout)  # type: ignore[arg-type]
        finally:
            await session.close()


async def test_the_session_sends_a_json_call_through_the_lean_client() -> None:
    message = {"message_id": 7, "date": 1700000000, "chat": {"id": 5, "type": "private"}}
    seen: list[bytes] = []

    def answer(n: int, request: bytes) -> bytes:
        seen.append(request)
        return response(json.dumps({"ok": True, "result": message}).encode())

    async with serving(answer) as (_, port):
        session = BotSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"))
        bot = Bot(TOKEN, session=session)
        sent = await bot(SendMessage(chat_id=5, text="x"))
        assert session._session is None  # aiohttp's ClientSession never made
        await session.close()
    assert getattr(sent, "message_id", None) == 7
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(f"POST /bot{TOKEN}/sendMessage HTTP/1.1\r\n".encode())
    assert b"aiogram/" in head and json.loads(body) == {"chat_id": 5, "text": "x"}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            response(
                b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3",'
                b'"parameters":{"retry_after":3}}',
                status="429 Too Many Requests",
            ),
            TelegramRetryAfter,
        ),
        (
            response(b'{"ok":false,"error_code":502,"description":"Bad Gateway"}', status="502 x"),
            TelegramServerError,
        ),
        (response(b"<html>bad gateway</html>", status="502 Bad Gateway"), ClientDecodeError),
        (None, TelegramNetworkError),
        (b"SSH-2.0-OpenSSH\r\n\r\n", TelegramNetworkError),
    ],
    ids=["429", "5xx", "not-json", "closed", "not-http"],
)
async def test_the_sessions_errors_are_aiograms(answer: bytes | None, error: type) -> None:
    with pytest.raises(error) as raised:
        await session_call(lambda n, _: answer)
    assert is_transient(raised.value)


async def test_a_session_timeout_is_aiograms_network_error() -> None:
    async def slow(n: int, _: bytes) -> bytes:
        await asyncio.sleep(1)
        return response()

    with pytest.raises(TelegramNetworkError, match="Request timeout error"):
        await session_call(slow, timeout=0.1)  # type: ignore[arg-type]


async def test_a_closed_session_opens_a_new_client() -> None:
    async with serving(lambda n, _: response()) as (server, port):
        session = BotSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}"))
        bot = Bot(TOKEN, session=session)
        from aiogram.methods import AnswerCallbackQuery

        assert await bot(AnswerCallbackQuery(callback_query_id="q")) is True
        await session.close()
        assert await bot(AnswerCallbackQuery(callback_query_id="q")) is True
        await session.close()
    assert server.connections == 2
