"""One update being handled by a flow (:class:`Turn`). Every flow imports it from here."""

from __future__ import annotations

from conversations.registration import Turn

__all__ = ["Turn"]
