"""The Bot API methods the sandbox implements, acting on a BotApiState.

Every handler receives parameters already validated against ``api.json`` (``spec.py``) and
either returns the method's result or raises ApiError with Telegram's status and wording.
Documented methods without a handler answer 501 so that a bot using one is noticed.
"""

from __future__ import annotations

from sandbox.botapi.methods.call import MethodCall
from sandbox.botapi.methods.registry import HANDLERS, run_method

__all__ = [
    "HANDLERS",
    "MethodCall",
    "run_method",
]
