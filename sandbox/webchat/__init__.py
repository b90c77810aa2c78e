"""The sandbox's web chat page: a Telegram-like chat in the browser, acting as the simulated
users of the local Bot API server (``sandbox.botapi``) through its ``/_sim`` API."""

from sandbox.webchat.app import (
    STATIC_PREFIX,
    WEBCHAT_KEY,
    DemoUser,
    Webchat,
    create_webchat_app,
    setup_webchat,
)

__all__ = [
    "STATIC_PREFIX",
    "WEBCHAT_KEY",
    "DemoUser",
    "Webchat",
    "create_webchat_app",
    "setup_webchat",
]
