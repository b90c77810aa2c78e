"""The Bot API HTTP session: aiogram's aiohttp session, minus a hidden per-call cost.

aiogram reads every answer through ``Response[method.__returning__]``, a pydantic generic
model. pydantic keeps its parametrised classes only weakly, and nothing else holds them, so
each time the garbage collector frees one the next call builds it again: about 20 ms of CPU
for ``Response[Message]`` (measured with ``python -m bench``'s profile, see
docs/performance.md). :class:`BotSession` holds one strong reference per result type, so the
class is built once per process.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

__all__ = ["BotSession"]


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
        if returning not in self._response_types:
            # built (and cached by pydantic) once; this reference keeps it alive
            self._response_types[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)
