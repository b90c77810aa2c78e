"""Settings, test switches and the in-memory state of the VNPT Pay simulator."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any

TX_CREATED = "0"
TX_PENDING = "5"
TX_SUCCESS = "50"
TX_FAILED = "55"
TX_BUSY = "-99"
HISTORY_LIMIT = 1000  # requests and notifications kept for inspection in a long sandbox run


@dataclass
class Switches:
    """Misbehaviours a test can turn on (``POST /_sim/switches`` or on the config object).

    Notification switches apply to every notification sent while they are on.
    """

    drop_notification: bool = False  # send no notification at all
    notification_delay: float = 0.0  # seconds; > 0 sends it in the background after the redirect
    notification_twice: bool = False  # after the normal delivery, send the same one again
    notification_bad_checksum: bool = False  # SECURE_CODE computed with a wrong secret
    notification_amount_delta: int = 0  # AMOUNT sent = real amount + delta, correctly signed
    notification_as_json: bool = False  # raw application/json body instead of the form
    init_timeouts: int = 0  # how many coming INITs stall for init_timeout_seconds
    init_timeout_seconds: float = 15.0  # longer than the client's timeout
    init_timeout_lost: bool = False  # a stalled INIT is lost (not recorded) instead of processed
    init_bad_checksum: bool = False  # INIT responses carry a wrong SECURE_CODE
    query_busy: bool = False  # QUERY answers TRANSACTION_STATUS -99
    query_bad_checksum: bool = False  # QUERY responses carry a wrong SECURE_CODE

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown names or wrong types raise ``ValueError``."""
        known = {f.name: f for f in dataclasses.fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown switch {name!r}")
            current = getattr(self, name)
            if isinstance(current, bool):
                ok = isinstance(value, bool)
            elif isinstance(current, int):
                ok = isinstance(value, int)
                value = int(value)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                value = float(value) if ok else value
            if not ok:
                raise ValueError(f"switch {name!r} has the wrong type")
            checked[name] = value
        for name, value in checked.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SimulatorConfig:
    """Settings of one merchant service at the simulated gateway.

    ``return_url`` and ``ipn_url`` are registered per merchant service (not sent per request);
    they are read at each use, so a caller may set them after the app is built. An empty
    ``ipn_url`` means no notification is sent. ``public_base_url`` is the base the payer's
    browser uses to reach this app (with the mount prefix when mounted as a sub-application).
    """

    merchant_service_id: str
    api_key: str
    secret_key: str
    return_url: str
    ipn_url: str
    public_base_url: str
    merchant_name: str = "oneSME Sandbox"
    ipn_retries: int = 3  # retries after the first attempt, unless a verified 00 or 02 arrives
    ipn_retry_delay: float = 0.5
    ipn_timeout: float = 5.0
    max_clock_skew_seconds: float | None = None  # refuse an INIT CREATE_DATE further from now
    switches: Switches = field(default_factory=Switches)


@dataclass
class Transaction:
    merchant_order_id: str
    token: str
    amount: int
    description: str
    locale: str
    create_date: str
    client_ip: str
    status: str = TX_CREATED  # TRANSACTION_STATUS: 0, 5, 50, 55
    response_code: str = ""  # the payer's result: 00, 01, 70
    transaction_id: str = ""
    payment_method: str = ""
    pay_date: str = ""
    card_last4: str = ""
    notification: str = ""  # "", not_configured, dropped, scheduled, delivered, failed
    notification_reply_code: str = ""

    @property
    def settled(self) -> bool:
        return self.status in (TX_SUCCESS, TX_FAILED)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SimulatorState:
    transactions: dict[str, Transaction] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    init_count: int = 0
    query_count: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def record_request(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)
        del self.requests[:-HISTORY_LIMIT]

    def record_notification(self, entry: dict[str, Any]) -> None:
        self.notifications.append(entry)
        del self.notifications[:-HISTORY_LIMIT]

    def reset(self) -> None:
        self.transactions.clear()
        self.by_token.clear()
        self.requests.clear()
        self.notifications.clear()
        self.init_count = 0
        self.query_count = 0

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the app shuts down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)
