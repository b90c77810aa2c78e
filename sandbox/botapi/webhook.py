"""Webhook delivery the way Telegram does it.

Updates are POSTed as JSON, with ``X-Telegram-Bot-Api-Secret-Token`` when a secret was set.
Updates of one chat go one at a time, in order: the next one leaves only after the bot answered
the previous one. Different chats are delivered in parallel, up to ``max_connections``.
A failed attempt (connection error, timeout, non-2xx) is retried after each of
``state.webhook_retry_delays``; each failure is recorded as a violation of method ``webhook``,
and after the last one the update is dropped and reported by getWebhookInfo. A JSON answer
carrying ``method`` is executed like a Bot API call, as Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp

from sandbox.botapi.dispatch import call_api, read_multipart
from sandbox.botapi.errors import ApiError
from sandbox.botapi.spec import UploadedFile
from sandbox.botapi.state import BotAccount, BotApiState, WebhookConfig

__all__ = ["WebhookDelivery", "update_chat_key"]


def update_chat_key(update: dict[str, Any]) -> int | None:
    """The chat an update belongs to, for per-chat ordering (None: no chat)."""
    for key, payload in update.items():
        if key == "update_id" or not isinstance(payload, dict):
            continue
        message = payload.get("message") if key == "callback_query" else payload
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
        sender = payload.get("from")
        if isinstance(sender, dict):
            return int(sender["id"])
    return None


class WebhookDelivery:
    """Background delivery of every bot's pending updates to its webhook."""

    def __init__(self, state: BotApiState, session: aiohttp.ClientSession) -> None:
        self._state = state
        self._session = session
        self._inflight: dict[tuple[int, int], tuple[int | None, asyncio.Task[None]]] = {}

    async def run(self) -> None:
        while not self._state.closing:
            waiter = self._state.change_waiter()
            for bot in list(self._state.bots.values()):
                self._schedule(bot)
            await waiter.wait()

    async def aclose(self) -> None:
        tasks = [task for _, task in self._inflight.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _schedule(self, bot: BotAccount) -> None:
        config = bot.webhook
        if config is None:
            return
        mine = {
            uid: chat for (bot_id, uid), (chat, _) in self._inflight.items() if bot_id == bot.id
        }
        waiting_chats = set(mine.values())
        running = len(mine)
        for update in list(bot.updates):
            update_id = update["update_id"]
            if update_id in mine or update_id in bot.handed_over:
                continue
            chat = update_chat_key(update)
            if chat is not None and chat in waiting_chats:
                continue
            waiting_chats.add(chat)
            if running >= config.max_connections:
                break
            running += 1
            task = asyncio.create_task(self._deliver(bot, config, update))
            self._inflight[(bot.id, update_id)] = (chat, task)

    async def _deliver(
        self, bot: BotAccount, config: WebhookConfig, update: dict[str, Any]
    ) -> None:
        state = self._state
        update_id = update["update_id"]
        state.delivery_started(bot.id)
        try:
            error = "not attempted"
            for delay in (0.0, *state.webhook_retry_delays):
                if delay:
                    await asyncio.sleep(delay)
                if bot.webhook is not config:
                    return
                failure = await self._post(bot, config, update)
                if failure is None:
                    self._done(bot, update_id)
                    return
                error = failure
                state.record_violation(
                    "webhook",
                    {"update_id": update_id, "url": config.url},
                    f"webhook delivery failed: {failure}",
                    bot.id,
                )
            bot.webhook_last_error = (int(state.clock()), error)
            self._done(bot, update_id)
        finally:
            self._inflight.pop((bot.id, update_id), None)
            state.delivery_finished(bot.id)

    def _done(self, bot: BotAccount, update_id: int) -> None:
        bot.updates = [u for u in bot.updates if u["update_id"] != update_id]
        bot.handed_over[update_id] = None

    async def _post(
        self, bot: BotAccount, config: WebhookConfig, update: dict[str, Any]
    ) -> str | None:
        headers = {"Content-Type": "application/json"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        timeout = aiohttp.ClientTimeout(total=self._state.webhook_timeout)
        try:
            async with self._session.post(
                config.url, data=json.dumps(update), headers=headers, timeout=timeout
            ) as response:
                if not 200 <= response.status < 300:
                    await response.read()
                    return f"Wrong response from the webhook: {response.status} {response.reason}"
                reply = await self._read_reply(bot, response)
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientError as error:
            return f"Connection failed: {type(error).__name__}"
        if reply is not None:
            params, files = reply
            method = params.pop("method")
            await call_api(self._state, bot.token, str(method), params, files)
        return None

    async def _read_reply(
        self, bot: BotAccount, response: aiohttp.ClientResponse
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]] | None:
        """The method call a webhook answer carries (JSON or multipart, as aiogram sends it)."""
        if response.content_type == "multipart/form-data":
            try:
                reader = aiohttp.MultipartReader(response.headers, response.content)
                params, files = await read_multipart(reader)
            except ApiError as error:
                self._state.record_violation("webhook", {}, error.description, bot.id)
                return None
        else:
            body = await response.read()
            if response.content_type != "application/json" or not body.strip():
                return None
            try:
                decoded = json.loads(body)
            except ValueError:
                shown = {"body": body[:200].decode("utf-8", "replace")}
                self._state.record_violation(
                    "webhook", shown, "webhook answered with invalid JSON", bot.id
                )
                return None
            if not isinstance(decoded, dict):
                return None
            params, files = decoded, {}
        return (params, files) if "method" in params else None
