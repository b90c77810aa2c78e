"""Answering a webhook with a Bot API call, as Telegram allows: one request fewer.

Telegram executes a method carried in the answer to its webhook POST (it reports no result).
While the bot handles an update that came by webhook and holds a callback query,
:func:`collecting` opens a slot for that query's answer; :func:`offer` puts the
``answerCallbackQuery`` there instead of sending it, and the webhook endpoint answers with it.
The answer then reaches the user when the update is handled (the webhook answers at the end),
right after the edit it acknowledges instead of just before it.

Only the update's own callback query is answered this way (the slot names it), only once, and
never after the webhook was answered (the slot is closed first), so a task the handling
spawned cannot lose an answer into a reply already sent.

With replicas on Redis too (``bot/replay.py``): the answer is no Bot API request, so the
request journal does not see it and it takes no position there. The webhook is answered only
after the update's turn ended (marked handled), so a replica that dies before has answered
nothing; Telegram delivers the update again, and the redelivery offers its answer into its own
webhook answer: the query is answered once, by the delivery Telegram took. A callback update
whose handling answered nothing (skipped as handled before, at the gate or by the journal) is
answered, without text, in the webhook's answer all the same: Telegram delivers an update again
only when it did not take the earlier webhook answer, and with it that delivery's callback
answer (``bot.app.BotApp.feed_webhook``); a second answer Telegram did take is refused by
Telegram without a word (a method in a webhook answer reports no result).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["WebhookReply", "callback_query_id", "collecting", "offer"]


@dataclass(slots=True)
class WebhookReply:
    callback_query_id: str
    method: dict[str, Any] | None = None
    closed: bool = False


_slot: ContextVar[WebhookReply | None] = ContextVar("onesme_webhook_reply", default=None)


def callback_query_id(update: dict[str, Any]) -> str | None:
    """The id of the callback query a raw update holds, if any."""
    query = update.get("callback_query")
    if isinstance(query, dict) and isinstance(query.get("id"), str):
        return str(query["id"])
    return None


@contextmanager
def collecting(query_id: str | None) -> Iterator[WebhookReply | None]:
    """Open the slot while the update is handled (no slot without a callback query)."""
    if query_id is None:
        yield None
        return
    reply = WebhookReply(query_id)
    token = _slot.set(reply)
    try:
        yield reply
    finally:
        reply.closed = True
        _slot.reset(token)


def offer(query_id: str, params: dict[str, Any]) -> bool:
    """Put ``answerCallbackQuery`` with ``params`` into the webhook's answer; False when it
    must be sent as a request (no open slot for this query, or the slot is taken)."""
    reply = _slot.get()
    if reply is None or reply.closed or reply.method is not None:
        return False
    if reply.callback_query_id != query_id:
        return False
    reply.method = {
        "method": "answerCallbackQuery",
        "callback_query_id": query_id,
        **{key: value for key, value in params.items() if value is not None},
    }
    return True
