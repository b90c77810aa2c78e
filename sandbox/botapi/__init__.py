"""A local Telegram Bot API server for tests and the offline sandbox.

It answers the bot exactly where Telegram would (``/bot<token>/<method>``), validates every
request against the packaged Bot API description (``api.json``), records each refusal in
``BotApiState.violations``, and simulates the users on the other side of the chat.
"""

from sandbox.botapi.errors import ApiError
from sandbox.botapi.faults import Fault, FaultSwitches
from sandbox.botapi.formatting import (
    EntityParseError,
    FormattedText,
    FormattingError,
    parse_html,
    parse_text,
    visible_text,
)
from sandbox.botapi.server import (
    STATE_KEY,
    BotApiServer,
    create_botapi_app,
    run_botapi_server,
    setup_botapi,
)
from sandbox.botapi.spec import load_spec
from sandbox.botapi.state import (
    ApiCall,
    BotAccount,
    BotApiState,
    Button,
    CallbackAnswer,
    MessageView,
    SimError,
    SimEvent,
    SimUser,
    StoredFile,
    UserAction,
    Violation,
)

__all__ = [
    "STATE_KEY",
    "ApiCall",
    "ApiError",
    "BotAccount",
    "BotApiServer",
    "BotApiState",
    "Button",
    "CallbackAnswer",
    "EntityParseError",
    "Fault",
    "FaultSwitches",
    "FormattedText",
    "FormattingError",
    "MessageView",
    "SimError",
    "SimEvent",
    "SimUser",
    "StoredFile",
    "UserAction",
    "Violation",
    "create_botapi_app",
    "load_spec",
    "parse_html",
    "parse_text",
    "run_botapi_server",
    "setup_botapi",
    "visible_text",
]
