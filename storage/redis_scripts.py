"""Lua scripts run with less of redis-py's work per call.

Almost every Redis command the bot sends is a script (``EVALSHA``): about five per update.
redis-py's ``register_script`` objects send each through ``Script.__call__`` (the keys and
arguments copied into a tuple, two ``isinstance`` checks for pipelines, ``evalsha``) and
``Redis.execute_command`` (``initialize``, the retry wrapper with its closures, the response
callbacks' lookup, an ``HIMPORT SET`` check of the arguments, observability timing): about 30%
of the client's CPU for a command, measured (issue 12, round 9). :class:`RedisScript`
is called like redis-py's (``await script(keys=[...], args=[...])``) and sends its
``EVALSHA`` on a connection of the client's own pool with redis-py's public connection API
(``get_connection``, ``send_command``, ``read_response``, ``release``): the same packing,
the same timeout on the answer, the same checks of a pooled connection on checkout (a
connection the server closed — a restart — is connected anew there), the same closing of a
connection whose command failed. A script the server does not know (``NoScriptError``: a
``SCRIPT FLUSH``, a fail-over) is loaded and run again, as redis-py's ``Script`` does. A
connection lost or an answer that does not come within ``socket_timeout`` fails the call, as
``execute_command`` does for a client made by ``Redis.from_url`` (its connections do not
retry); a client whose connections retry a failed command gets redis-py's ``Script``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # redis is imported when a client is made (not in SQLite-only mode)
    from redis.asyncio import Redis


class RedisScript:
    """A Lua script of ``redis`` called by ``EVALSHA`` (see the module doc). Clients the short
    path does not fit (a single-connection client, a cluster, a subclass of ``Redis``, a
    response callback for ``EVALSHA``, connections that retry) get redis-py's ``Script``."""

    __slots__ = ("_head", "_no_script", "_redis", "_script", "_short")

    def __init__(self, redis: Redis, source: str) -> None:
        from redis.asyncio import Redis as AsyncRedis
        from redis.exceptions import NoScriptError

        self._redis = redis
        self._script = redis.register_script(source)
        self._head = (b"EVALSHA", self._script.sha.encode())
        self._short = (
            type(redis) is AsyncRedis
            and not redis.single_connection_client
            and redis.response_callbacks.get("EVALSHA") is None
            and not _retries(redis.connection_pool.connection_kwargs)
        )
        self._no_script = NoScriptError

    @property
    def sha(self) -> str:
        return self._script.sha

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        if not self._short:
            return await self._script(keys=keys, args=args)
        for attempt in (1, 2):
            pool = self._redis.connection_pool
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                await connection.send_command(*self._head, len(keys), *keys, *args)
                return await connection.read_response()
            except self._no_script:
                if attempt == 2:
                    raise
            finally:
                await pool.release(connection)
            await self._redis.script_load(self._script.script)
        raise AssertionError("unreachable")  # pragma: no cover


def _retries(kwargs: dict[str, Any]) -> bool:
    """Whether connections made with ``kwargs`` retry a failed command (redis-py's
    ``AbstractConnection``: a ``retry`` or ``retry_on_error`` / ``retry_on_timeout``)."""
    retry = kwargs.get("retry")
    return bool(
        (retry is not None and retry.get_retries() > 0)
        or kwargs.get("retry_on_error")
        or kwargs.get("retry_on_timeout")
    )
