"""Fault switches: the local Bot API server misbehaving the way Telegram does.

A :class:`Fault` matches calls (by method, by chat, every k-th matching call, a number of
times) and answers them with

- ``retry_after``: 429 ``Too Many Requests: retry after N`` with ``parameters.retry_after``;
- ``server_error``: a 5xx (500 ``Internal Server Error``, 502 ``Bad Gateway`` …);
- ``slow``: the answer comes ``delay`` seconds late (long enough, a client timeout). When
  the client went away meanwhile, the call is not carried out (as if lost on the way) unless
  ``run_if_gone`` is set (as if Telegram did it but the answer was lost).

A faulted call is recorded in ``BotApiState.calls`` (with its status and the fault's id) but is
not a violation: the bot did nothing wrong. ``getUpdates`` is never faulted unless named in
``methods``. The 403 for a user who never wrote to the bot is not a switch: it is always on
(``methods._chat``).

Switches are set on ``BotApiState.faults`` (:class:`FaultSwitches`) or over HTTP
(``/_sim/faults``, see ``sim_http``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FAULT_KINDS", "Fault", "FaultSwitches"]

FaultKind = Literal["retry_after", "server_error", "slow"]
FAULT_KINDS: tuple[str, ...] = ("retry_after", "server_error", "slow")

_SERVER_ERRORS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Fault:
    """One switch; ``matched`` and ``fired`` count the calls it saw and answered."""

    id: int
    kind: FaultKind
    #: the Bot API methods it applies to (canonical names); None: all but getUpdates
    methods: frozenset[str] | None = None
    #: only calls to this chat (the call's ``chat_id``)
    chat_id: int | None = None
    #: fires on every ``every``-th matching call (1: each of them)
    every: int = 1
    #: fires this many times, then stays off; None: until removed
    times: int | None = None
    retry_after: int = 1
    status: int = 500
    delay: float = 0.0
    run_if_gone: bool = False
    matched: int = 0
    fired: int = 0

    def applies(self, method: str, params: Mapping[str, Any]) -> bool:
        if self.methods is None:
            if method == "getUpdates":
                return False
        elif method not in self.methods:
            return False
        return self.chat_id is None or params.get("chat_id") == self.chat_id

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def error(self) -> tuple[int, dict[str, Any]] | None:
        """The error answer of the fault (None for ``slow``, which answers normally)."""
        if self.kind == "retry_after":
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {self.retry_after}",
                "parameters": {"retry_after": self.retry_after},
            }
        if self.kind == "server_error":
            text = _SERVER_ERRORS.get(self.status, "Internal Server Error")
            return self.status, {"ok": False, "error_code": self.status, "description": text}
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "chat_id": self.chat_id,
            "every": self.every,
            "times": self.times,
            "retry_after": self.retry_after,
            "status": self.status,
            "delay": self.delay,
            "run_if_gone": self.run_if_gone,
            "matched": self.matched,
            "fired": self.fired,
        }


@dataclass
class FaultSwitches:
    """The switches of one server; the first matching switch that fires answers a call."""

    faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(
        self,
        kind: str,
        *,
        methods: Iterable[str] | None = None,
        chat_id: int | None = None,
        every: int = 1,
        times: int | None = None,
        retry_after: int = 1,
        status: int = 500,
        delay: float = 0.0,
        run_if_gone: bool = False,
    ) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError("every must be a whole number ≥ 1")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
            raise ValueError("times must be a whole number or null")
        if times is not None and times < 1:
            raise ValueError("times must be ≥ 1")
        if isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 1:
            raise ValueError("retry_after must be a whole number of seconds ≥ 1")
        if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
            raise ValueError("status must be a 5xx HTTP status")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
            raise ValueError("delay must be a number of seconds ≥ 0")
        if isinstance(methods, str):
            methods = [methods]
        if chat_id is not None and (isinstance(chat_id, bool) or not isinstance(chat_id, int)):
            raise ValueError("chat_id must be an integer")
        fault = Fault(
            id=next(self._ids),
            kind=kind,  # type: ignore[arg-type]
            methods=frozenset(methods) if methods is not None else None,
            chat_id=chat_id,
            every=every,
            times=times,
            retry_after=retry_after,
            status=status,
            delay=float(delay),
            run_if_gone=bool(run_if_gone),
        )
        self.faults.append(fault)
        return fault

    def too_many_requests(self, retry_after: int, **match: Any) -> Fault:
        """429 with ``retry_after``; e.g. ``every=3`` for every third call."""
        return self.add("retry_after", retry_after=retry_after, **match)

    def server_errors(self, count: int, *, status: int = 500, **match: Any) -> Fault:
        """The next ``count`` matching calls answer ``status``."""
        return self.add("server_error", times=count, status=status, **match)

    def slow(self, delay: float, **match: Any) -> Fault:
        """Matching calls are answered ``delay`` seconds late."""
        return self.add("slow", delay=delay, **match)

    def remove(self, fault_id: int) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f.id != fault_id]
        return len(self.faults) < before

    def clear(self) -> None:
        self.faults.clear()

    def pick(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        """The fault that answers this call, if any (counts the call on every switch that
        matches, so ``every`` is counted per switch)."""
        chosen: Fault | None = None
        for fault in self.faults:
            if fault.exhausted or not fault.applies(method, params):
                continue
            fault.matched += 1
            if chosen is None and fault.matched % fault.every == 0:
                fault.fired += 1
                chosen = fault
        return chosen

    def to_json(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self.faults]
