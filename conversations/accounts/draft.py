"""The typed drafts of the invitation flow and of the staff's business picker.

Both are stored in the session's JSON under short keys (the same as before they were typed,
so a stored draft loads unchanged). The picker shares its dict with the flow that hosts it
(the registration or the invitation), so it reads and writes only its own keys.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from domain.model import Role

#: the keys the business picker owns in its host's draft
PICKER_KEYS: Final = ("bz", "bq", "bn")


class PickStep(enum.StrEnum):
    QUERY = "q"
    TAX = "nt"
    NAME = "nn"
    ADDRESS = "na"
    EMAIL = "ne"


@dataclass
class NewBusiness:
    """A business being created by staff, field by field (``bn``: ``tax``, ``name``,
    ``addr``, ``email``)."""

    tax_code: str | None = None
    name: str | None = None
    address: str | None = None

    @classmethod
    def load(cls, raw: object) -> NewBusiness:
        if not isinstance(raw, dict):
            return cls()
        return cls(
            tax_code=_opt_str(raw.get("tax")),
            name=_opt_str(raw.get("name")),
            address=_opt_str(raw.get("addr")),
        )

    def dump(self) -> dict[str, str]:
        values = {"tax": self.tax_code, "name": self.name, "addr": self.address}
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class PickerDraft:
    """``bz`` the sub-step (None: the picker is not in use), ``bq`` the last search, ``bn``
    the new business's fields."""

    sub: PickStep | None = None
    query: str = ""
    new: NewBusiness | None = None

    @classmethod
    def load(cls, raw: dict[str, Any]) -> PickerDraft:
        sub = raw.get("bz")
        return cls(
            sub=PickStep(sub) if sub else None,
            query=str(raw.get("bq", "") or ""),
            new=NewBusiness.load(raw["bn"]) if "bn" in raw else None,
        )

    @property
    def step(self) -> PickStep:
        return self.sub or PickStep.QUERY

    def store(self, raw: dict[str, Any]) -> None:
        """Write the picker's keys into its host's draft (the others are left as they are)."""
        values: dict[str, Any] = {
            "bz": self.sub.value if self.sub is not None else None,
            "bq": self.query or None,
            "bn": self.new.dump() if self.new is not None else None,
        }
        for key, value in values.items():
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value


class InviteStep(enum.StrEnum):
    PICK = "iv_pick"  # an owner of several businesses chooses one
    WHO = "iv_who"  # an owner picks the employee in Telegram, or asks for a link
    BUSINESS = "iv_biz"  # staff find or create the business
    ROLE = "iv_role"  # staff choose owner or member


@dataclass
class InviteDraft:
    """``s`` the step (or the flow's name while it ends), ``e`` the business, ``r`` the role
    the invitation is for, ``fx`` wrong typed answers in a row. The picker's keys are its
    own (:class:`PickerDraft`)."""

    step: str = ""
    business: int | None = None
    role: Role | None = None
    failures: int = 0

    @classmethod
    def load(cls, raw: dict[str, Any]) -> InviteDraft:
        business, role = raw.get("e"), raw.get("r")
        return cls(
            step=str(raw.get("s", "")),
            business=int(business) if business not in (None, "") else None,
            role=Role(role) if role else None,
            failures=int(raw.get("fx", 0) or 0),
        )

    def store(self, raw: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            "s": self.step or None,
            "e": self.business,
            "r": self.role.value if self.role is not None else None,
            "fx": self.failures or None,
        }
        for key, value in values.items():
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
