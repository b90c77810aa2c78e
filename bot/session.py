"""The Bot API HTTP session: aiogram's aiohttp session, minus hidden per-call costs.

1. aiogram reads every answer through ``Response[method.__returning__]``, a pydantic generic
   model. pydantic keeps its parametrised classes only weakly, and nothing else holds them, so
   each time the garbage collector frees one the next call built it again: about 20 ms of CPU
   for ``Response[Message]`` (measured with ``python -m bench``'s profile, see
   docs/performance.md). :class:`BotSession` holds one strong reference per result type, so
   the class is built once per process.
2. aiogram posts every call as a form (``FormData``): each value serialised to a string, the
   whole body then percent-encoded byte by byte (Vietnamese text and inline keyboards are
   mostly escapes), about 8% of the bot's CPU per update. A call without a file is posted as
   one JSON object instead (``application/json``, which the Bot API accepts for every
   method); a call that uploads a file stays multipart, as aiogram sends it.
3. An edit's answer is the edited ``Message``, which the bot never reads (it knows what it
   wrote); reading it into aiogram's models costs a full ``Message`` validation per button
   press. A successful ``editMessageText`` / ``editMessageReplyMarkup`` returns ``True``
   instead, which their declared result type (``Message | bool``: ``True`` for an inline
   message) allows. A failed one is read as aiogram reads it (its error).
4. A sent message's answer is read as its id, date and chat only (the renderer needs the id,
   the replay journal records these); one lacking them is read by aiogram, as before.
5. aiogram's types are built on first use (:mod:`bot.lazy_aiogram`), and an answer type such
   as ``Response[Message]`` builds the schema of every type it holds that is not built yet:
   ``Response[list[Update]]``, ``Response[Message]`` and ``Response[Message | bool]`` each
   built ``Message``'s again, about 100 ms of CPU apiece, paid by the first updates the bot
   served. :meth:`BotSession.prepare_types` (at start-up) builds the keyboards, ``Message``
   and ``Update`` first, then the answer types of the calls every update makes, which reuse
   them: 140–160 ms instead of 280–310 ms (docs/performance.md).
6. :meth:`BotSession.json_body` lets pydantic leave out the ``None`` fields and walks only
   what is not a string, number or boolean through aiogram's ``prepare_value``.
7. aiogram wraps the session's middlewares around ``make_request`` anew for every call (a
   ``functools.partial`` per middleware); :meth:`BotSession.__call__` keeps the chain per
   request timeout and builds it again only when the middlewares registered change.
8. The bodies are written and the answers read with orjson rather than the standard ``json``
   (aiogram's defaults, unless the caller passes its own): a keyboard's ``editMessageText``
   body 10.7 → 1.3 µs, a sent message's answer read 4.8 → 1.6 µs. The same JSON values
   (without spaces, non-ASCII text as UTF-8 rather than escaped); what orjson would
   write differently from ``json`` (a subclass of ``str``, ``int``, ``dict`` or ``list``, a
   date, a dataclass) or refuses (an integer beyond 64 bits, a lone surrogate), and an answer
   it cannot read, go to ``json`` as before, which writes or reads it, or fails, as it did.
   One difference is left: orjson reads an integer beyond 64 bits as a float, where ``json``
   reads an ``int``; the Bot API's integers have at most 52 significant bits.
9. :meth:`BotSession.poll_updates` is the polling loop's ``getUpdates``, without aiogram's
   method model, the middleware chain and ``Response[list[Update]]``: the body written from
   the four values it carries, the answer read once and each update validated as aiogram
   validates it (the same ``Update`` model and context). Polled one update at a time, each
   update paid a whole round; these parts were about a fifth of it (docs/performance.md,
   round 9). The session's middlewares do nothing with ``getUpdates`` (the replay guard acts
   inside an update's handling only, the send policy exempts it) except the call counter,
   which the caller counts for. Any other answer (an error, a malformed one) goes to
   aiogram's ``check_response``, which raises what it raised before.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, ClassVar, cast

import orjson
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetUpdates,
    Response,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError

__all__ = ["BotSession", "json_dumps", "json_loads"]

_JSON = {"Content-Type": "application/json"}
#: ``getUpdates`` as the polling loop sends it (see 9. above)
_GET_UPDATES = GetUpdates.__api_method__

#: calls whose successful answer is not read (see 3. above): ``True`` stands for it
_RESULT_UNREAD = frozenset({"editMessageText", "editMessageReplyMarkup"})
#: calls whose answer is a ``Message`` read only in part (see 4. above)
_RESULT_HEAD = frozenset({"sendMessage"})
_UNREAD_ANSWER = {"ok": True, "result": True}
#: values aiogram's ``prepare_value`` returns as they are (exact types: a ``str`` enum is not)
_ATOMS = frozenset({str, int, bool, float})


#: built by :meth:`BotSession.prepare_types` in this order: the types a later one holds first
_PREPARED_TYPES = (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Message,
    Update,
)
#: the calls of (almost) every update, whose answer types are built at start-up
_PREPARED_CALLS = (
    GetUpdates,
    SendMessage,
    EditMessageText,
    EditMessageReplyMarkup,
    AnswerCallbackQuery,
)


#: anything but the exact JSON types goes to ``default``, i.e. to ``json`` (see 8. above)
_ORJSON_EXACT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def json_dumps(value: Any) -> str:
    """``json.dumps(value)``'s JSON value, written by orjson (see 8. above)."""
    try:
        return orjson.dumps(value, option=_ORJSON_EXACT).decode()
    except TypeError:  # orjson.JSONEncodeError too
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    """``json.loads(text)``, read by orjson (see 8. above)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


class BotSession(AiohttpSession):
    _response_types: ClassVar[dict[Any, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", json_loads)
        kwargs.setdefault("json_dumps", json_dumps)
        super().__init__(*args, **kwargs)
        #: per request timeout: the middlewares it was built with, the chain (see 7. above)
        self._chains: dict[Any, tuple[list[Any], Any]] = {}

    async def __call__(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        registered = getattr(self.middleware, "_middlewares", None)
        if type(registered) is not list:  # not aiogram's manager as known: its own way
            return await super().__call__(bot, method, timeout)
        built = self._chains.get(timeout)
        if built is None or built[0] != registered:
            chain = self.middleware.wrap_middlewares(self.make_request, timeout=timeout)
            if len(self._chains) >= 16:
                self._chains.clear()
            built = self._chains[timeout] = (list(registered), chain)
        return cast(TelegramType, await built[1](bot, method))

    @classmethod
    def prepare_types(cls) -> None:
        """Build the types every update uses now (see 5. above); once per process."""
        for model in _PREPARED_TYPES:
            model.model_rebuild()
        for method in _PREPARED_CALLS:
            cls._response_type(method.__returning__)

    @classmethod
    def _response_type(cls, returning: Any) -> Any:
        response_type = cls._response_types.get(returning)
        if response_type is None:
            # built (and cached by pydantic) once; this reference keeps it alive
            response_type = Response[returning]
            cls._response_types[returning] = response_type
        return response_type

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        response_type = self._response_type(method.__returning__)
        name = method.__api_method__
        if (name in _RESULT_UNREAD or name in _RESULT_HEAD) and (
            HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED
        ):
            result = self._ok_result(content)
            if name in _RESULT_UNREAD:
                if result is not None:
                    # validated: pydantic's model_construct fills the fields in Python (5 µs
                    # against 1.4 µs)
                    return cast(
                        Response[TelegramType], response_type.model_validate(_UNREAD_ANSWER)
                    )
            else:
                head = _message_head(result)
                if head is not None:
                    try:
                        return cast(
                            Response[TelegramType],
                            response_type.model_validate(
                                {"ok": True, "result": head}, context={"bot": bot}
                            ),
                        )
                    except ValidationError:
                        pass  # aiogram reads it, and reports what is wrong
        return super().check_response(bot, method, status_code, content)

    def _ok_result(self, content: str) -> Any:
        """The ``result`` of a successful answer; None when it is not one."""
        try:
            answer = self.json_loads(content)
        except Exception:
            return None
        if isinstance(answer, dict) and answer.get("ok") is True:
            return answer.get("result")
        return None

    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> str | None:
        """The call as a JSON object, or None when it uploads a file (multipart then).

        The same values as aiogram's form: defaults resolved, ``None`` and empty strings
        left out, objects as their Bot API JSON; numbers and booleans stay JSON numbers and
        booleans instead of strings. pydantic leaves the ``None`` fields out
        (``exclude_none``, which aiogram's ``prepare_value`` would drop one by one), and
        strings, numbers and booleans are taken as they are; anything else (defaults,
        files, dates, enums) goes through aiogram's ``prepare_value``."""
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in method.model_dump(exclude_none=True, warnings=False).items():
            if type(value) not in _ATOMS:
                value = self._prepared(value, bot, files)
                if value is None:
                    continue
            if value == "":
                continue
            body[key] = value
        if files:
            return None
        return self.json_dumps(body)

    def _prepared(self, value: Any, bot: Bot, files: dict[str, Any]) -> Any:
        """aiogram's ``prepare_value`` (objects not dumped to JSON strings), with dicts and
        lists of plain values walked here."""
        kind = type(value)
        if kind is dict:
            prepared_dict: dict[str, Any] = {}
            for key, item in value.items():
                if type(item) not in _ATOMS:
                    item = self._prepared(item, bot, files)
                    if item is None:
                        continue
                prepared_dict[key] = item
            return prepared_dict
        if kind is list:
            prepared_list: list[Any] = []
            for item in value:
                if type(item) not in _ATOMS:
                    item = self._prepared(item, bot, files)
                    if item is None:
                        continue
                prepared_list.append(item)
            return prepared_list
        return self.prepare_value(value, bot=bot, files=files, _dumps_json=False)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=body,
                headers=_JSON,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:  # asyncio.TimeoutError, as aiogram catches it
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(
            bot=bot,
            method=method,
            status_code=resp.status,
            content=raw_result,
        )
        return cast(TelegramType, response.result)

    async def poll_updates(
        self,
        bot: Bot,
        *,
        offset: int | None,
        timeout: int,  # noqa: ASYNC109 - the long poll's, sent to the Bot API
        allowed_updates: list[str],
        request_timeout: int,
    ) -> list[Update]:
        """``bot.get_updates(offset=..., timeout=..., allowed_updates=...,
        request_timeout=...)`` for the polling loop, read as aiogram reads it but without
        its per-call machinery (see 9. above); raises what that call raises."""
        values: dict[str, Any] = {"timeout": timeout, "allowed_updates": allowed_updates}
        if offset is not None:
            values["offset"] = offset
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=_GET_UPDATES)
        try:
            async with session.post(
                url,
                data=orjson.dumps(values),
                headers=_JSON,
                timeout=ClientTimeout(total=request_timeout),
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError as e:  # asyncio.TimeoutError, as aiogram catches it
            raise TelegramNetworkError(
                method=GetUpdates(**values), message="Request timeout error"
            ) from e
        except ClientError as e:
            raise TelegramNetworkError(
                method=GetUpdates(**values), message=f"{type(e).__name__}: {e}"
            ) from e
        items = _updates_in(raw) if status == HTTPStatus.OK else None
        if items is not None:
            context = {"bot": bot}
            try:
                return [Update.model_validate(item, context=context) for item in items]
            except ValidationError:
                pass  # aiogram reads it, and reports what is wrong
        response = self.check_response(
            bot=bot,
            method=GetUpdates(**values),
            status_code=status,
            content=raw.decode(errors="replace"),
        )
        return cast(list[Update], response.result)


def _updates_in(raw: bytes) -> list[Any] | None:
    """The updates of a successful ``getUpdates`` answer, unread; None when it is not one."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(answer) is not dict or answer.get("ok") is not True:
        return None
    result = answer.get("result")
    return result if type(result) is list else None


def _message_head(result: Any) -> dict[str, Any] | None:
    """The id, date and chat of a sent message's answer (see 4. above); None when the
    answer lacks one of them (aiogram then reads it, and reports what is wrong)."""
    if not isinstance(result, dict):
        return None
    chat = result.get("chat")
    if not isinstance(chat, dict) or "message_id" not in result or "date" not in result:
        return None
    return {
        "message_id": result["message_id"],
        "date": result["date"],
        "chat": {"id": chat.get("id"), "type": chat.get("type")},
    }
