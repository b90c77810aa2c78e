"""Serving the web chat page: the page itself, its static files and the two JSON endpoints the
``/_sim`` API lacks (who can be picked, and a chat's events together with its reply keyboard).

The page's scripts use absolute paths (``/``, ``/webchat/...``, ``/_sim/...``), so the routes
live on the application that also serves ``/_sim``: aiohttp refuses a sub-application at ``/``.
Everything the page needs is packaged next to this module; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from sandbox.botapi import BotApiState, SimError, setup_botapi
from sandbox.botapi.server import MAX_REQUEST_BYTES
from sandbox.botapi.sim_http import MAX_EVENT_WAIT

__all__ = [
    "STATIC_PREFIX",
    "WEBCHAT_KEY",
    "DemoUser",
    "Webchat",
    "create_webchat_app",
    "setup_webchat",
]

STATIC_PREFIX = "/webchat/static/"
API_PREFIX = "/webchat/api"

_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_USER_FIELDS = frozenset(
    {"id", "first_name", "label", "last_name", "username", "language_code", "phone_number"}
)
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""No inline script and nothing from another host, even if the renderer had a hole.
``'unsafe-eval'`` is there for browser tests only: Playwright's ``wait_for_function("...")``
evaluates its string inside the page; the page itself never evaluates strings."""


@dataclass(frozen=True)
class DemoUser:
    """A user the page offers in its picker; ``label`` says who they are in the demo."""

    id: int
    first_name: str
    label: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "vi"
    phone_number: str | None = None

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> DemoUser:
        unknown = set(entry) - _USER_FIELDS
        if unknown:
            raise ValueError(f"demo user {entry!r}: unknown keys {sorted(unknown)}")
        if not isinstance(entry.get("id"), int) or isinstance(entry.get("id"), bool):
            raise ValueError(f"demo user {entry!r}: 'id' must be an int (the Telegram user id)")
        if not entry.get("first_name"):
            raise ValueError(f"demo user {entry!r}: 'first_name' is required")
        return cls(
            id=entry["id"],
            first_name=entry["first_name"],
            label=entry.get("label") or entry["first_name"],
            last_name=entry.get("last_name"),
            username=entry.get("username"),
            language_code=entry.get("language_code", "vi"),
            phone_number=entry.get("phone_number"),
        )


@dataclass(frozen=True)
class Webchat:
    """What the page's handlers need: the simulated world, the picker and the links bar.

    ``instance`` is new for every setup: a page that sees it change knows the server (and its
    event numbering) restarted under it and reloads the chat."""

    state: BotApiState
    instance: str
    demo_users: tuple[DemoUser, ...]
    links: tuple[tuple[str, str], ...]
    assets: Mapping[str, tuple[bytes, str]]


WEBCHAT_KEY = web.AppKey("webchat", Webchat)


def create_webchat_app(
    state: BotApiState,
    *,
    demo_users: Sequence[Mapping[str, Any]] | None = None,
    links: Mapping[str, str] | None = None,
) -> web.Application:
    """A standalone application: the local Bot API server (``setup_botapi``) plus the page."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    setup_botapi(app, state)
    setup_webchat(app, state, demo_users=demo_users, links=links)
    return app


def setup_webchat(
    app: web.Application,
    state: BotApiState,
    *,
    demo_users: Sequence[Mapping[str, Any]] | None = None,
    links: Mapping[str, str] | None = None,
) -> None:
    """Add the page (``GET /``), its files (``/webchat/static/``) and its API
    (``/webchat/api/``) to ``app``, the application that serves ``state``'s ``/_sim`` routes.

    ``demo_users`` are dicts with the keys ``id`` and ``first_name`` (required), ``label``,
    ``last_name``, ``username``, ``language_code`` and ``phone_number``; each one missing from
    ``state`` is created there now (an existing user is left as it is). ``links`` maps a label
    to a URL shown in the page's links bar, in order.
    """
    users = tuple(DemoUser.from_dict(entry) for entry in demo_users or ())
    for user in users:
        if user.id not in state.users:
            state.create_user(
                user.first_name,
                user_id=user.id,
                last_name=user.last_name,
                username=user.username,
                language_code=user.language_code,
                phone_number=user.phone_number,
            )
    app[WEBCHAT_KEY] = Webchat(
        state=state,
        instance=secrets.token_hex(8),
        demo_users=users,
        links=tuple((links or {}).items()),
        assets=_load_assets(),
    )
    app.router.add_get("/", _page)
    app.router.add_get(STATIC_PREFIX + "{name}", _asset)
    app.router.add_get(API_PREFIX + "/config", _config)
    app.router.add_get(API_PREFIX + "/users/{user_id}/events", _events)


def _load_assets() -> dict[str, tuple[bytes, str]]:
    """The packaged files by name, read once: only these names are ever served."""
    assets: dict[str, tuple[bytes, str]] = {}
    for entry in (resources.files(__package__) / "static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if entry.is_file() and suffix in _CONTENT_TYPES:
            assets[entry.name] = (entry.read_bytes(), _CONTENT_TYPES[suffix])
    return assets


def _asset_response(webchat: Webchat, name: str) -> web.Response:
    found = webchat.assets.get(name)
    if found is None:
        raise web.HTTPNotFound()
    body, content_type = found
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if content_type == "text/html":
        headers["Content-Security-Policy"] = _PAGE_POLICY
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def _page(request: web.Request) -> web.Response:
    return _asset_response(request.app[WEBCHAT_KEY], "index.html")


async def _asset(request: web.Request) -> web.Response:
    return _asset_response(request.app[WEBCHAT_KEY], request.match_info["name"])


def _ok(result: Any) -> web.Response:
    return web.json_response(
        {"ok": True, "result": result}, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


def _error(message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=400)


async def _config(request: web.Request) -> web.Response:
    """The bot (when exactly one is registered), the users to pick from (the demo users in
    their order, then any other simulated user) and the links bar."""
    webchat = request.app[WEBCHAT_KEY]
    state = webchat.state
    bots = list(state.bots.values())
    bot = (
        {"id": bots[0].id, "username": bots[0].username, "first_name": bots[0].first_name}
        if len(bots) == 1
        else None
    )
    labels = {user.id: user.label for user in webchat.demo_users}
    ordered = [state.users[u.id] for u in webchat.demo_users if u.id in state.users]
    ordered += [u for u in state.users.values() if u.id not in labels]
    users = [
        {**user.to_json(), "label": labels.get(user.id, user.first_name), "demo": user.id in labels}
        for user in ordered
    ]
    links = [{"label": label, "url": url} for label, url in webchat.links]
    return _ok({"instance": webchat.instance, "bot": bot, "users": users, "links": links})


async def _events(request: web.Request) -> web.Response:
    """``/_sim/events`` for one user's chat, answered with the reply keyboard shown after them
    (a message that removes the keyboard looks like any other in the event, so the page could
    not tell otherwise) and the server's ``instance``. A page that polls with another
    ``instance`` (it was loaded from a previous server) is answered at once."""
    webchat = request.app[WEBCHAT_KEY]
    state = webchat.state
    try:
        user_id = int(request.match_info["user_id"])
        after = int(request.query.get("after", "0"))
        timeout = min(max(float(request.query.get("timeout", "25")), 0.0), MAX_EVENT_WAIT)
    except ValueError as error:
        return _error(f"bad request: {error}")
    if request.query.get("instance", webchat.instance) != webchat.instance:
        timeout = 0.0
    try:
        bot_id = state.resolve_bot().id
        events = await state.wait_for_events(after, timeout, chat_id=user_id, bot_id=bot_id)
        keyboard = state.current_keyboard(user_id)
    except SimError as error:
        return _error(str(error))
    return _ok(
        {
            "instance": webchat.instance,
            "events": [event.to_json() for event in events],
            "last": len(state.events),
            "keyboard": (
                [[button.to_json() for button in row] for row in keyboard]
                if keyboard is not None
                else None
            ),
        }
    )
