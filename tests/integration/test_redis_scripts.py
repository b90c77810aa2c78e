"""``storage.redis_scripts.RedisScript``: a script's ``EVALSHA`` sent on a pooled connection
without ``Redis.execute_command``, and what it leaves to redis-py's own path — a script the
server does not know, a connection lost or an answer that never comes (real Redis, behind a
small TCP relay where the test needs to break the connection)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from storage.redis_scripts import RedisScript
from storage.redis_store import connect
from tests.integration.test_redis_turns import counting

pytestmark = pytest.mark.redis

#: KEYS: a key. ARGV: a value. Sets it, returns what it held.
_SWAP = """
local old = redis.call("get", KEYS[1])
redis.call("set", KEYS[1], ARGV[1], "EX", 60)
return old
"""


class Relay:
    """A TCP relay to Redis: ``mute`` drops Redis' answers (they never come), ``cut`` closes
    the connection that sends the next ``EVALSHA``, before it reaches Redis."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.mute = False
        self.cut = False
        self._writers: list[asyncio.StreamWriter] = []
        self.port_seen = 0  # the relay's own port

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers += [writer, up_writer]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await source.read(65536):
                    if up and self.cut and b"EVALSHA" in data:
                        self.cut = False
                        writer.close()
                        up_writer.close()
                        return
                    if not up and self.mute:
                        continue
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def close(self) -> None:
        for writer in self._writers:
            writer.close()


@asynccontextmanager
async def relayed(redis_url: str, socket_timeout: float = 5.0) -> AsyncIterator[tuple[Relay, Any]]:
    """A client (as the bot makes it) whose connections go through a :class:`Relay`."""
    url = urlsplit(redis_url)
    relay = Relay(url.hostname or "127.0.0.1", url.port or 6379)
    server = await asyncio.start_server(relay.serve, "127.0.0.1", 0)
    port = relay.port_seen = server.sockets[0].getsockname()[1]
    client = connect(f"redis://127.0.0.1:{port}{url.path or '/0'}", socket_timeout=socket_timeout)
    try:
        yield relay, client
    finally:
        relay.mute = False
        await client.aclose()
        relay.close()
        server.close()
        await server.wait_closed()


async def test_a_script_is_one_evalsha_without_execute_command(
    redis_client: Any, redis_prefix: str
) -> None:
    swap = RedisScript(redis_client, _SWAP)
    key = f"{redis_prefix}k"
    assert await swap(keys=[key], args=["a"]) is None  # (loaded: the server did not know it)

    async def refused(*args: Any, **options: Any) -> Any:
        raise AssertionError(f"{args[0]} went through execute_command")

    redis_client.execute_command = refused
    try:
        with counting(redis_client) as calls:
            assert await swap(keys=[key], args=["b"]) == b"a"
            assert await swap(keys=[key], args=[3]) == b"b"
    finally:
        del redis_client.execute_command
    assert calls == ["EVALSHA", "EVALSHA"]
    assert await redis_client.get(key) == b"3"


async def test_a_script_the_server_does_not_know_is_loaded_and_run(
    redis_client: Any, redis_prefix: str
) -> None:
    """As after ``SCRIPT FLUSH`` or a fail-over: the script's text (unique to this test) was
    never loaded on this server; the call loads it and runs it, once."""
    swap = RedisScript(redis_client, f"-- {secrets.token_hex(8)}{_SWAP}")
    key = f"{redis_prefix}k"
    await redis_client.set(key, "before")
    with counting(redis_client) as calls:
        assert await swap(keys=[key], args=["after"]) == b"before"
        assert await swap(keys=[key], args=["again"]) == b"after"
    assert calls == ["EVALSHA", "SCRIPT LOAD", "EVALSHA", "EVALSHA"]
    assert await redis_client.get(key) == b"again"


async def test_a_connection_the_server_closed_is_connected_anew(
    redis_client: Any, redis_url: str, redis_prefix: str
) -> None:
    """A restart closes every connection: the next call checks the pooled one out, finds it
    closed and connects again (redis-py's pool does; the script does not fail)."""
    client = connect(redis_url)
    try:
        swap = RedisScript(client, _SWAP)
        key = f"{redis_prefix}k"
        await swap(keys=[key], args=["a"])
        pooled = await client.client_id()  # the pool's one connection
        assert await redis_client.client_kill_filter(_id=pooled) == 1
        await asyncio.sleep(0.05)
        assert await swap(keys=[key], args=["b"]) == b"a"
        assert await client.client_id() != pooled
    finally:
        await client.aclose()


async def test_a_connection_lost_in_a_call_fails_it_and_the_next_connects_anew(
    redis_url: str, redis_prefix: str
) -> None:
    """As redis-py's ``execute_command`` for a client made by ``Redis.from_url`` (no retries):
    the call fails, its connection is closed, the next call gets a new one."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    async with relayed(redis_url) as (relay, client):
        swap = RedisScript(client, _SWAP)
        key = f"{redis_prefix}k"
        await swap(keys=[key], args=["a"])
        relay.cut = True  # the next EVALSHA never reaches Redis: its connection is closed
        with pytest.raises(RedisConnectionError):
            await swap(keys=[key], args=["b"])
        assert not relay.cut
        assert await swap(keys=[key], args=["c"]) == b"a"
        await client.delete(key)


async def test_a_client_whose_connections_retry_uses_redis_pys_script(
    redis_url: str, redis_prefix: str
) -> None:
    """``Redis(host=..., port=...)`` retries a failed command (redis-py's default ``Retry``):
    the script goes through ``execute_command``, and a lost connection is retried."""
    from redis.asyncio import Redis

    url = urlsplit(redis_url)
    async with relayed(redis_url) as (relay, _):
        port = relay.port_seen
        client: Any = Redis(host="127.0.0.1", port=port, db=int((url.path or "/0")[1:] or 0))
        try:
            swap = RedisScript(client, _SWAP)
            key = f"{redis_prefix}k"
            await swap(keys=[key], args=["a"])
            relay.cut = True
            with counting(client) as calls:
                assert await swap(keys=[key], args=["b"]) == b"a"
            assert calls == ["EVALSHA", "EVALSHA"]  # cut, then retried on a new connection
            await client.delete(key)
        finally:
            await client.aclose()


async def test_a_script_whose_answer_does_not_come_times_out(
    redis_url: str, redis_prefix: str
) -> None:
    """The wait for a script's answer is timed (``socket_timeout``), by the client itself."""
    from redis.exceptions import TimeoutError as RedisTimeout

    async with relayed(redis_url, socket_timeout=0.2) as (relay, client):
        swap = RedisScript(client, _SWAP)
        key = f"{redis_prefix}k"
        await swap(keys=[key], args=["a"])
        relay.mute = True
        with pytest.raises(RedisTimeout):  # not asyncio's: the client gave up by itself
            await asyncio.wait_for(swap(keys=[key], args=["b"]), 10)
        relay.mute = False
        assert await swap(keys=[key], args=["c"]) in (b"a", b"b")  # a fresh connection
        await client.delete(key)


async def test_a_single_connection_client_uses_redis_pys_script(
    redis_url: str, redis_prefix: str
) -> None:
    from redis.asyncio import Redis

    client: Any = Redis.from_url(redis_url, single_connection_client=True)
    try:
        swap = RedisScript(client, _SWAP)
        key = f"{redis_prefix}k"
        seen: list[str] = []
        execute = client.execute_command

        async def counted(*args: Any, **options: Any) -> Any:
            seen.append(str(args[0]))
            return await execute(*args, **options)

        client.execute_command = counted
        assert await swap(keys=[key], args=["a"]) is None
        assert await swap(keys=[key], args=["b"]) == b"a"
        assert seen[-1] == "EVALSHA"
        await client.delete(key)
    finally:
        await client.aclose()
