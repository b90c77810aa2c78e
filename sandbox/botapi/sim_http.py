"""The client side over HTTP (``/_sim/...``, JSON): what a web chat page or an out-of-process
test uses to act as Telegram users. Answers are ``{"ok": true, "result": ...}`` or, for an
action the Telegram app would not allow, 400 ``{"ok": false, "error": "..."}``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.botapi.state import BotApiState, SimError

__all__ = ["STATE_KEY", "add_sim_routes"]

STATE_KEY = web.AppKey("botapi_state", BotApiState)
MAX_EVENT_WAIT = 60.0

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _guard(handler: _Handler) -> _Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SimError as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400, dumps=_dumps)
        except (KeyError, TypeError, ValueError) as error:
            return web.json_response(
                {"ok": False, "error": f"bad request: {error!r}"}, status=400, dumps=_dumps
            )

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _state(request: web.Request) -> BotApiState:
    return request.app[STATE_KEY]


def _user_id(request: web.Request) -> int:
    return int(request.match_info["user_id"])


def _bot(request: web.Request, body: dict[str, Any] | None = None) -> str | None:
    value = (body or {}).get("bot", request.query.get("bot"))
    return None if value is None else str(value)


async def _overview(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    bots = [
        {"id": b.id, "username": b.username, "first_name": b.first_name}
        for b in state.bots.values()
    ]
    return _ok({"bots": bots, "users": [u.to_json() for u in state.users.values()]})


async def _create_user(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    user = _state(request).create_user(
        body.get("first_name", "Test"),
        user_id=body.get("id"),
        last_name=body.get("last_name"),
        username=body.get("username"),
        language_code=body.get("language_code", "vi"),
        phone_number=body.get("phone_number"),
    )
    return _ok(user.to_json())


async def _get_user(request: web.Request) -> web.StreamResponse:
    return _ok(_state(request).user(_user_id(request)).to_json())


async def _send(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    action = _state(request).send_message(_user_id(request), body["text"], bot=_bot(request, body))
    return _ok(action.to_json())


async def _press(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    action = _state(request).press_inline_button(
        _user_id(request),
        body.get("label"),
        callback_data=body.get("callback_data"),
        message_id=body.get("message_id"),
        bot=_bot(request, body),
    )
    return _ok(action.to_json())


async def _keyboard(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    action = _state(request).press_reply_button(
        _user_id(request), body["text"], bot=_bot(request, body)
    )
    return _ok(action.to_json())


async def _contact(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    action = _state(request).send_contact(
        _user_id(request),
        phone_number=body.get("phone_number"),
        first_name=body.get("first_name"),
        last_name=body.get("last_name"),
        contact_user_id=body.get("user_id"),
        bot=_bot(request, body),
    )
    return _ok(action.to_json())


async def _users_shared(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    action = _state(request).share_users(
        _user_id(request),
        int(body["request_id"]),
        [int(u) for u in body["user_ids"]],
        bot=_bot(request, body),
        forged=bool(body.get("forged", False)),
    )
    return _ok(action.to_json())


async def _block(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    _state(request).block_bot(_user_id(request), bot=_bot(request, body))
    return _ok(True)


async def _history(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    user_id, bot = _user_id(request), _bot(request)
    keyboard = state.current_keyboard(user_id, bot=bot)
    return _ok(
        {
            "messages": [view.to_json() for view in state.history(user_id, bot=bot)],
            "keyboard": (
                [[b.to_json() for b in row] for row in keyboard] if keyboard is not None else None
            ),
            "last_event": len(state.events),
        }
    )


async def _answers(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    answers = state.callback_answers(_user_id(request), bot=_bot(request))
    return _ok([answer.to_json() for answer in answers])


async def _events(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    after = int(request.query.get("after", "0"))
    timeout = min(float(request.query.get("timeout", "25")), MAX_EVENT_WAIT)
    chat_id = int(request.query["chat_id"]) if "chat_id" in request.query else None
    bot = _bot(request)
    bot_id = state.resolve_bot(bot).id if bot is not None else None
    events = await state.wait_for_events(after, timeout, chat_id=chat_id, bot_id=bot_id)
    return _ok({"events": [e.to_json() for e in events], "last": len(state.events)})


async def _calls(request: web.Request) -> web.StreamResponse:
    since = int(request.query.get("since", "0"))
    calls = _state(request).calls[since:]
    return _ok(
        [
            {
                "seq": c.seq,
                "method": c.method,
                "bot_id": c.bot_id,
                "ok": c.ok,
                "params": c.params,
                "description": c.description,
                "status": c.status,
                "fault": c.fault,
                "received_at": c.received_at,
                "answered_at": c.at,
            }
            for c in calls
        ]
    )


async def _faults(request: web.Request) -> web.StreamResponse:
    return _ok(_state(request).faults.to_json())


_FAULT_FIELDS = frozenset(
    {
        "kind",
        "methods",
        "chat_id",
        "every",
        "times",
        "retry_after",
        "status",
        "delay",
        "run_if_gone",
    }
)


async def _add_fault(request: web.Request) -> web.StreamResponse:
    """Body: ``{"kind": "retry_after" | "server_error" | "slow", ...}`` with the fields of
    :class:`sandbox.botapi.faults.Fault` (``methods`` a list of names or one name)."""
    body = await _body(request)
    unknown = sorted(set(body) - _FAULT_FIELDS)
    if unknown:
        raise ValueError(f"unknown fields {unknown}; known: {sorted(_FAULT_FIELDS)}")
    if "kind" not in body:
        raise ValueError("kind is required")
    options = {key: value for key, value in body.items() if key != "kind"}
    fault = _state(request).faults.add(str(body["kind"]), **options)
    return _ok(fault.to_json())


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    _state(request).faults.clear()
    return _ok(True)


async def _remove_fault(request: web.Request) -> web.StreamResponse:
    fault_id = int(request.match_info["fault_id"])
    if not _state(request).faults.remove(fault_id):
        raise SimError(f"no fault switch {fault_id}")
    return _ok(True)


async def _violations(request: web.Request) -> web.StreamResponse:
    return _ok(
        [
            {
                "method": v.method,
                "params": v.params,
                "description": v.description,
                "bot_id": v.bot_id,
            }
            for v in _state(request).violations
        ]
    )


async def _file(request: web.Request) -> web.StreamResponse:
    stored = _state(request).files.get(request.match_info["file_id"])
    if stored is None:
        raise web.HTTPNotFound()
    content_type = stored.mime_type or {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".gif": "image/gif",
    }.get(stored.file_path[stored.file_path.rfind(".") :], "application/octet-stream")
    headers = {}
    if stored.file_name:
        headers["Content-Disposition"] = f'inline; filename="{stored.file_name}"'
    return web.Response(body=stored.data, content_type=content_type, headers=headers)


def add_sim_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, _Handler]] = [
        ("GET", "/_sim/state", _overview),
        ("POST", "/_sim/users", _create_user),
        ("GET", "/_sim/users/{user_id}", _get_user),
        ("POST", "/_sim/users/{user_id}/messages", _send),
        ("POST", "/_sim/users/{user_id}/press", _press),
        ("POST", "/_sim/users/{user_id}/keyboard", _keyboard),
        ("POST", "/_sim/users/{user_id}/contact", _contact),
        ("POST", "/_sim/users/{user_id}/users_shared", _users_shared),
        ("POST", "/_sim/users/{user_id}/block", _block),
        ("GET", "/_sim/users/{user_id}/history", _history),
        ("GET", "/_sim/users/{user_id}/callback_answers", _answers),
        ("GET", "/_sim/events", _events),
        ("GET", "/_sim/calls", _calls),
        ("GET", "/_sim/violations", _violations),
        ("GET", "/_sim/faults", _faults),
        ("POST", "/_sim/faults", _add_fault),
        ("DELETE", "/_sim/faults", _clear_faults),
        ("DELETE", "/_sim/faults/{fault_id}", _remove_fault),
        ("GET", "/_sim/files/{file_id}", _file),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _guard(handler))
