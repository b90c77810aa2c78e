"""Named domain errors.

Every error carries a stable ``key`` (an i18n message key, also used in logs and tests) and the
parameters the message needs. The bot turns them into replies in one place.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    key: str = "error.domain"

    def __init__(self, message: str = "", **params: Any) -> None:
        super().__init__(message or self.key)
        self.params: dict[str, Any] = params


class NotFound(DomainError):
    key = "error.not_found"


class PermissionDenied(DomainError):
    key = "error.permission_denied"


class InvalidInput(DomainError):
    """A value a person typed is not acceptable; ``field`` names it, ``reason`` says why."""

    key = "error.invalid_input"


class PromotionNotApplicable(DomainError):
    """A chosen promotion cannot be used; ``reason`` is one of PromotionRefusal's values."""

    key = "error.promotion_not_applicable"

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"promotion {code}: {reason}", code=code, reason=reason)
        self.code = code
        self.reason = reason


class CatalogInvalid(DomainError):
    """A catalog document has problems; each is ``(path, message)``, e.g.
    ``("services[0].plans[1].cycles[0].price", "must be ≥ 0")``."""

    key = "error.catalog_invalid"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in problems))
        self.problems = problems
