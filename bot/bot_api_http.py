"""A lean HTTP/1.1 client for the bot's JSON Bot API calls (one origin, keep-alive).

Measured (``python -m bench.call_cost`` and docs/performance.md, round 7, branch calls): one
POST through aiohttp's ``ClientSession`` costs the client about 150 µs of CPU more than the
request itself needs: a ``ClientRequest`` and a ``ClientResponse`` built per call (headers
merged into multidicts, cookies, trace hooks, a body payload object, a stream reader and its
flow control, the charset sniffing of ``text()``), about two calls per update. A Bot API call
is always the same shape: one POST of a small JSON body to one origin, whose answer is a small
JSON document. :class:`JsonPoster` does that and nothing else, on keep-alive connections kept
in a pool:

- the request is written in one piece: request line, ``Host``, ``User-Agent``,
  ``Content-Type: application/json``, ``Content-Length``, body (no ``Accept-Encoding``, so the
  server answers uncompressed; a gzip or deflate answer is still decoded);
- the answer is read by its ``Content-Length``, as chunks (``Transfer-Encoding: chunked``), or
  up to the connection's end; 1xx answers are skipped; a connection whose answer says
  ``Connection: close`` (or HTTP/1.0 without keep-alive), or whose answer was not read to its
  end (a timeout, a cancel, an error), is closed, never reused;
- connections idle for longer than ``keepalive`` seconds (aiohttp's 15 s) are closed instead
  of reused, and one the server closed while idle is dropped; at most ``limit`` connections
  (aiogram's 100) at once, the others wait;
- ``https`` with the TLS context given (aiogram's, from certifi), ``http`` without.

Errors: a network error or a connection closed before the answer ended raises ``OSError``
(:class:`ServerDisconnected` for the latter), the deadline ``TimeoutError``, a malformed answer
:class:`BadAnswer` (an ``OSError`` too); :class:`bot.session.BotSession` turns them into
aiogram's ``TelegramNetworkError``, as it does aiohttp's. A request is never sent twice here
(the send policy decides about retries). No proxy, no cookies, no redirects: the Bot API
uses none of them (:class:`bot.session.BotSession` keeps aiohttp for a session with a proxy
and for file uploads).
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Answer", "BadAnswer", "JsonPoster", "ServerDisconnected"]

_HEAD_END = b"\r\n\r\n"
_CRLF = b"\r\n"
#: the longest answer head read (aiohttp's parser allows 8190 bytes a line, 32768 fields)
_MAX_HEAD = 65536


class ServerDisconnected(ConnectionError):
    """The connection ended before the answer did."""


class BadAnswer(OSError):
    """The answer is not an HTTP/1.x response this client reads."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: the body decoded (the charset of ``Content-Type``, else UTF-8; bad bytes replaced)
    text: str


@dataclass(frozen=True, slots=True)
class _Target:
    secure: bool
    host: str
    port: int
    #: the request's head up to its ``Content-Length`` value
    head: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; reads one answer at a time (see :meth:`answer`)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.ended = False
        self.error: BaseException | None = None
        self.idle_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # use

    @property
    def usable(self) -> bool:
        return not self.ended and not self.buffer and self.transport is not None

    def close(self) -> None:
        self.ended = True
        if self.transport is not None:
            self.transport.close()

    async def answer(self, request: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        """Send ``request``; the answer's status, headers (names in lower case), body, and
        whether the connection may carry another request."""
        assert self.transport is not None
        self.transport.write(request)
        loop = asyncio.get_running_loop()
        reader = _AnswerReader()
        while True:
            parsed = reader.feed(self.buffer, self.ended)
            if parsed is not None:
                return parsed
            if self.ended:
                raise ServerDisconnected(
                    f"connection closed before the answer ended ({self.error or 'EOF'})"
                )
            self.waiter = loop.create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None


class _AnswerReader:
    """Reads one answer from a connection's buffer as it fills (consumed when complete)."""

    __slots__ = ("body_start", "headers", "status", "version")

    def __init__(self) -> None:
        self.body_start = -1
        self.status = 0
        self.version = ""
        self.headers: dict[str, str] = {}

    def feed(
        self, buffer: bytearray, ended: bool
    ) -> tuple[int, dict[str, str], bytes, bool] | None:
        while self.body_start < 0:
            end = buffer.find(_HEAD_END)
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise BadAnswer("answer head too long")
                return None
            self._head(bytes(buffer[:end]))
            if 100 <= self.status < 200:  # interim (100 Continue …): skipped
                del buffer[: end + 4]
                continue
            self.body_start = end + 4
        headers = self.headers
        start = self.body_start
        keep = self._keep_alive()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            read = _chunked(buffer, start)
            if read is None:
                return None
            body, consumed = read
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError as error:
                raise BadAnswer(f"bad Content-Length {headers['content-length']!r}") from error
            if length < 0:
                raise BadAnswer(f"bad Content-Length {length}")
            consumed = start + length
            if len(buffer) < consumed:
                return None
            body = bytes(buffer[start:consumed])
        elif self.status in (204, 304):
            body, consumed = b"", start
        else:  # up to the connection's end
            if not ended:
                return None
            body, consumed, keep = bytes(buffer[start:]), len(buffer), False
        del buffer[:consumed]
        return self.status, headers, _decoded(body, headers), keep

    def _head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise BadAnswer(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        self.version = version
        self.status = int(code)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise BadAnswer(f"bad header line {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        self.headers = headers

    def _keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def _chunked(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body from ``start``: (body, bytes consumed) or None while incomplete."""
    parts: list[bytes] = []
    position = start
    while True:
        line_end = buffer.find(_CRLF, position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as error:
            raise BadAnswer(f"bad chunk size {size_text[:20]!r}") from error
        position = line_end + 2
        if size == 0:  # trailers, up to an empty line
            while True:
                line_end = buffer.find(_CRLF, position)
                if line_end < 0:
                    return None
                empty = line_end == position
                position = line_end + 2
                if empty:
                    return b"".join(parts), position
        if len(buffer) < position + size + 2:
            return None
        parts.append(bytes(buffer[position : position + size]))
        position += size + 2


def _decoded(body: bytes, headers: dict[str, str]) -> bytes:
    encoding = headers.get("content-encoding", "identity").lower()
    if encoding in ("identity", ""):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            try:
                return zlib.decompress(body, 47)  # 47: a zlib or gzip header, detected
            except zlib.error:
                if encoding != "deflate":
                    raise
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate
        except zlib.error as error:
            raise BadAnswer(f"answer not decodable as {encoding}: {error}") from error
    raise BadAnswer(f"unsupported Content-Encoding {encoding!r}")


def _charset(headers: dict[str, str]) -> str:
    for part in headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


class JsonPoster:
    """POSTs JSON bodies to URLs of one origin on pooled keep-alive connections (module doc)."""

    def __init__(
        self,
        *,
        user_agent: str,
        ssl: ssl_module.SSLContext | None = None,
        limit: int = 100,
        keepalive: float = 15.0,
    ) -> None:
        self.user_agent = user_agent
        self.ssl = ssl
        self.keepalive = keepalive
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self.closed = False

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {url}")
            secure = parts.scheme == "https"
            port = parts.port or (443 if secure else 80)
            host = parts.hostname
            host_header = parts.netloc.rpartition("@")[2]
            path = parts.path or "/"
            if parts.query:
                path = f"{path}?{parts.query}"
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n"
                f"User-Agent: {self.user_agent}\r\nAccept: */*\r\n"
                "Content-Type: application/json\r\nContent-Length: "
            ).encode("latin-1")
            target = _Target(secure, host, port, head)
            if len(self._targets) >= 256:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def post(self, url: str, body: bytes, timeout: float | None) -> Answer:  # noqa: ASYNC109
        """POST ``body`` (JSON) to ``url``; the whole exchange within ``timeout`` seconds."""
        if self.closed:
            raise ServerDisconnected("the session is closed")
        target = self._target(url)
        request = b"%s%d\r\n\r\n%s" % (target.head, len(body), body)
        slots = self._slots
        if slots is not None:
            await slots.acquire()
        try:
            if timeout is None:
                return await self._exchange(target, request)
            async with asyncio.timeout(timeout):
                return await self._exchange(target, request)
        finally:
            if slots is not None:
                slots.release()

    async def _exchange(self, target: _Target, request: bytes) -> Answer:
        connection = self._idle_connection(target)
        if connection is None:
            connection = await self._connect(target)
        self._busy.add(connection)
        reusable = False
        try:
            status, headers, body, reusable = await connection.answer(request)
        finally:
            self._busy.discard(connection)
            if reusable and not self.closed and connection.usable:
                connection.idle_since = time.monotonic()
                self._idle.setdefault((target.secure, target.host, target.port), []).append(
                    connection
                )
            else:
                connection.close()
        try:
            text = body.decode(_charset(headers), errors="replace")
        except LookupError:  # a charset Python does not know
            text = body.decode("utf-8", errors="replace")
        return Answer(status, text)

    def _idle_connection(self, target: _Target) -> _Connection | None:
        idle = self._idle.get((target.secure, target.host, target.port))
        if not idle:
            return None
        oldest_kept = time.monotonic() - self.keepalive
        while idle:
            connection = idle.pop()  # the most recently used first
            if connection.usable and connection.idle_since >= oldest_kept:
                return connection
            connection.close()
        return None

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        ssl = None
        if target.secure:
            ssl = self.ssl if self.ssl is not None else ssl_module.create_default_context()
        _, connection = await loop.create_connection(
            _Connection,
            target.host,
            target.port,
            ssl=ssl,
            server_hostname=target.host if ssl is not None else None,
        )
        return connection

    async def close(self) -> None:
        """Close every connection, those in use too (their calls fail as disconnected)."""
        self.closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()
