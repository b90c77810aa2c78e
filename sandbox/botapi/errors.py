"""The error a Bot API method answers with, as Telegram words it."""

from __future__ import annotations

__all__ = ["ApiError"]


class ApiError(Exception):
    """A refused request: HTTP status (also ``error_code``) and Telegram's ``description``."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.description = description
        self.status = status

    def to_json(self) -> dict[str, object]:
        return {"ok": False, "error_code": self.status, "description": self.description}
