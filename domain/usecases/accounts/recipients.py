"""Telling a business's owners.

- :class:`BusinessRecipients` — the owners of a business who use the bot (to tell them things).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.errors import NotFound
from domain.model import EnterpriseId
from domain.ports import UowFactory
from domain.usecases.accounts.common import BusinessView, Recipient, _owners

__all__ = [
    "BusinessRecipients",
    "Recipients",
]


@dataclass(frozen=True, slots=True)
class Recipients:
    business: BusinessView
    owners: tuple[Recipient, ...]


class BusinessRecipients:
    """The owners of a business who use the bot, except ``exclude`` (e.g. the agent acting)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, enterprise_id: int, exclude: Iterable[int] = ()) -> Recipients:
        skip = set(exclude)
        async with self._uow() as uow:
            enterprise = await uow.enterprises.get(EnterpriseId(enterprise_id))
            if enterprise is None:
                raise NotFound("no such business", field="enterprise")
            owners = await _owners(uow, enterprise.id)
        return Recipients(
            BusinessView.of(enterprise), tuple(o for o in owners if o.chat_id not in skip)
        )
