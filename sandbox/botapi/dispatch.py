"""One Bot API request from token and raw parameters to Telegram's JSON answer.

Shared by the HTTP endpoint and by webhook replies (a bot may answer a webhook with a method
call, which Telegram then executes). Every refused request is recorded as a violation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from sandbox.botapi.errors import ApiError
from sandbox.botapi.methods import MethodCall, run_method
from sandbox.botapi.spec import UploadedFile, load_spec, validate_params
from sandbox.botapi.state import BotApiState

__all__ = ["call_api", "loggable", "read_multipart"]

_log = logging.getLogger(__name__)

CLIENT_GONE = "Client Closed Request: the client left before the slow answer; not carried out"


def loggable(params: Mapping[str, Any], files: Mapping[str, UploadedFile] = {}) -> dict[str, Any]:
    """Parameters as recorded in calls and violations: uploads replaced by name and size."""

    def clean(value: Any) -> Any:
        if isinstance(value, UploadedFile):
            return {"filename": value.filename, "size": len(value.data)}
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    shown = {name: clean(value) for name, value in params.items()}
    for name, upload in files.items():
        shown.setdefault(name, clean(upload))
    return shown


async def read_multipart(
    reader: aiohttp.MultipartReader,
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Form fields (as strings) and file parts of a multipart/form-data body."""
    params: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    while True:
        part = await reader.next()
        if part is None:
            return params, files
        if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
            raise ApiError("Bad Request: unsupported multipart layout")
        if part.filename is not None:
            files[part.name] = UploadedFile(
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                data=bytes(await part.read()),
            )
        else:
            params[part.name] = await part.text()


async def call_api(
    state: BotApiState,
    token: str,
    method_name: str,
    params: Mapping[str, Any],
    files: Mapping[str, UploadedFile] = {},
    *,
    connected: Callable[[], bool] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Validate and run one method; returns the HTTP status and the JSON body.

    ``connected`` tells whether the caller still listens: a long poll terminated by a newer
    one (409) is not a violation when its client had already gone away.
    """
    bot = state.bot_by_token(token)
    spec = load_spec()
    method = spec.method(method_name)
    name = method.name if method else method_name
    shown = loggable(params, files)
    bot_id = bot.id if bot else None
    received = state.request_started(bot_id, name)

    def finish(error: str | None, status: int, **extra: Any) -> None:
        state.request_finished(
            bot_id, name, shown, error, received_at=received, status=status, **extra
        )

    try:
        if bot is None:
            raise ApiError("Unauthorized", 401)
        if method is None:
            raise ApiError("Not Found: method not found", 404)
        values = validate_params(spec, method, params, files)
        shown = loggable(values)
        fault = state.faults.pick(method.name, values)
        if fault is not None:
            answer = fault.error()
            if answer is not None:
                status, body = answer
                finish(str(body["description"]), status, violation=False, fault=fault.id)
                return status, body
            await asyncio.sleep(fault.delay)
            if connected is not None and not connected() and not fault.run_if_gone:
                finish(CLIENT_GONE, 499, violation=False, fault=fault.id)
                return 499, {"ok": False, "error_code": 499, "description": CLIENT_GONE}
        result = await run_method(MethodCall(state, bot, values), method.name)
    except ApiError as error:
        gone = error.status == 409 and connected is not None and not connected()
        finish(error.description, error.status, violation=not gone)
        return error.status, error.to_json()
    except Exception:
        _log.exception("sandbox Bot API failed on %s", name)
        failure = ApiError("Internal Server Error: the sandbox failed, see its log", 500)
        finish(failure.description, failure.status)
        return failure.status, failure.to_json()
    finish(None, 200)
    return 200, {"ok": True, "result": result}
