"""The Bot API HTTP session: aiogram's aiohttp session, minus two hidden per-call costs.

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
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout
from pydantic import ValidationError

__all__ = ["BotSession"]

_JSON = {"Content-Type": "application/json"}

#: calls whose successful answer is not read (see 3. above): ``True`` stands for it
_RESULT_UNREAD = frozenset({"editMessageText", "editMessageReplyMarkup"})
#: calls whose answer is a ``Message`` read only in part (see 4. above)
_RESULT_HEAD = frozenset({"sendMessage"})


class BotSession(AiohttpSession):
    _response_types: ClassVar[dict[Any, Any]] = {}

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        returning = method.__returning__
        response_type = self._response_types.get(returning)
        if response_type is None:
            # built (and cached by pydantic) once; this reference keeps it alive
            response_type = Response[returning]  # type: ignore[valid-type]
            self._response_types[returning] = response_type
        name = method.__api_method__
        if (name in _RESULT_UNREAD or name in _RESULT_HEAD) and (
            HTTPStatus.OK <= status_code <= HTTPStatus.IM_USED
        ):
            result = self._ok_result(content)
            if name in _RESULT_UNREAD:
                if result is not None:
                    return cast(
                        Response[TelegramType], response_type.model_construct(ok=True, result=True)
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
        booleans instead of strings."""
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is None or prepared == "":
                continue
            body[key] = prepared
        if files:
            return None
        return self.json_dumps(body)

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
