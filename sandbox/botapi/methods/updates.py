"""Updates and webhooks: getUpdates, setWebhook, deleteWebhook, getWebhookInfo."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from sandbox.botapi.errors import ApiError
from sandbox.botapi.methods.call import (
    MAX_POLL_TIMEOUT,
    POLL_CONFLICT,
    WEBHOOK_CONFLICT,
    MethodCall,
)
from sandbox.botapi.state import BotAccount, WebhookConfig


def _confirm(bot: BotAccount, offset: int) -> None:
    if offset > 0:
        bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
    elif offset < 0:
        bot.updates = bot.updates[offset:]


async def get_updates(call: MethodCall) -> list[dict[str, Any]]:
    state, bot, params = call.state, call.bot, call.params
    if bot.webhook is not None:
        raise ApiError(WEBHOOK_CONFLICT, 409)
    if "allowed_updates" in params:
        bot.allowed_updates = params["allowed_updates"] or None
    if "offset" in params:
        _confirm(bot, params["offset"])
    limit = min(max(params.get("limit", 100), 1), 100)
    timeout = min(max(params.get("timeout", 0), 0), MAX_POLL_TIMEOUT)
    bot.poll_generation += 1
    generation = bot.poll_generation
    state.notify()
    await state.wait_until(
        lambda: (
            bool(bot.updates)
            or bot.poll_generation != generation
            or bot.webhook is not None
            or state.closing
        ),
        timeout,
    )
    if bot.poll_generation != generation:
        raise ApiError(POLL_CONFLICT, 409)
    if bot.webhook is not None:
        raise ApiError(WEBHOOK_CONFLICT, 409)
    batch = bot.updates[:limit]
    bot.handed_over.update((u["update_id"], generation) for u in batch)
    if batch:
        state.mark_activity(bot.id)
    state.notify()
    return [dict(u) for u in batch]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_webhook(call: MethodCall) -> bool:
    state, bot, params = call.state, call.bot, call.params
    url = params["url"]
    if "allowed_updates" in params:
        bot.allowed_updates = params["allowed_updates"] or None
    if params.get("drop_pending_updates"):
        state.drop_updates(bot)
    if url == "":
        bot.webhook = None
        state.notify()
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError("Bad Request: bad webhook: invalid URL")
    if not _is_loopback(parts.hostname):
        raise ApiError(
            "Bad Request: bad webhook: the sandbox delivers webhooks to loopback addresses only"
        )
    bot.webhook = WebhookConfig(
        url=url,
        secret_token=params.get("secret_token"),
        max_connections=params.get("max_connections", 40),
    )
    bot.webhook_last_error = None
    bot.poll_generation += 1
    state.notify()
    return True


def delete_webhook(call: MethodCall) -> bool:
    if call.params.get("drop_pending_updates"):
        call.state.drop_updates(call.bot)
    call.bot.webhook = None
    call.state.notify()
    return True


def get_webhook_info(call: MethodCall) -> dict[str, Any]:
    bot = call.bot
    pending = sum(1 for u in bot.updates if u["update_id"] not in bot.handed_over)
    info: dict[str, Any] = {
        "url": bot.webhook.url if bot.webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": pending,
    }
    if bot.webhook is not None:
        info["max_connections"] = bot.webhook.max_connections
        info["ip_address"] = "127.0.0.1"
        if bot.allowed_updates:
            info["allowed_updates"] = list(bot.allowed_updates)
        if bot.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = bot.webhook_last_error
    return info
