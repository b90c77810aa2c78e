"""Notes and memos: **notes** (free text) by owners and staff; **credit/debit memos** and
their status by staff."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from domain.errors import InvalidInput, PermissionDenied
from domain.formatting import parse_money
from domain.model import Memo, MemoId, MemoKind, MemoStatus, Page, Subscription, User, UserId
from domain.ports import Clock
from domain.usecases.manage.common import (
    Rights,
    TabRequest,
    UowFactory,
    _authorize,
    _event,
    _require,
)
from domain.validation import normalize_text

__all__ = [
    "MAX_MEMO_AMOUNT",
    "MAX_TEXT",
    "AddMemo",
    "AddMemoRequest",
    "AddNote",
    "AddNoteRequest",
    "ListMemos",
    "MemoChange",
    "MemosView",
    "SetMemoStatus",
    "SetMemoStatusRequest",
    "parse_memo_amount",
    "validate_memo_text",
]


#: the longest note or memo reason kept (a Telegram message must hold a page of them)
MAX_TEXT = 500
#: the largest credit/debit memo, đồng (a typo guard: one trillion)
MAX_MEMO_AMOUNT = 1_000_000_000_000


def validate_memo_text(raw: str, name: str = "text") -> str:
    """A note or a memo's reason: trimmed, NFC, 1..MAX_TEXT characters, line breaks allowed
    but no other control characters. Reasons: ``text.required``, ``text.too_long``,
    ``text.control_chars``."""
    lines = [normalize_text(line) for line in raw.replace("\r\n", "\n").split("\n")]
    value = "\n".join(line for line in lines if line).strip()
    if not value:
        raise InvalidInput(f"{name}: empty", field=name, reason="text.required", example="")
    if any((ord(ch) < 32 and ch != "\n") or 127 <= ord(ch) < 160 for ch in value):
        raise InvalidInput(
            f"{name}: control characters", field=name, reason="text.control_chars", example=""
        )
    if len(value) > MAX_TEXT:
        raise InvalidInput(
            f"{name}: too long",
            field=name,
            reason="text.too_long",
            example="",
            max_len=MAX_TEXT,
        )
    return value


def parse_memo_amount(raw: str) -> int:
    """A memo amount typed by a person: whole đồng, 1..MAX_MEMO_AMOUNT.
    Reasons: ``money.format``, ``amount.range``."""
    amount = parse_money(raw)
    if not 0 < amount <= MAX_MEMO_AMOUNT:
        raise InvalidInput(
            "amount: out of range", field="amount", reason="amount.range", example="1.500.000"
        )
    return amount


@dataclass(frozen=True, slots=True)
class MemosView:
    subscription: Subscription
    rights: Rights
    page: Page[Memo]
    authors: Mapping[UserId, User]


class ListMemos:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> MemosView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            page = await uow.memos.page(subscription.id, req.offset, req.limit)
            authors = await uow.users.get_many({m.author_id for m in page.items})
        return MemosView(subscription, rights, page, authors)


@dataclass(frozen=True, slots=True)
class AddNoteRequest:
    actor_id: int
    subscription_id: int
    text: str


@dataclass(frozen=True, slots=True)
class MemoChange:
    memo: Memo
    changed: bool = True


class AddNote:
    """A free-text note on the subscription, by an owner or staff."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: AddNoteRequest) -> MemoChange:
        text = validate_memo_text(req.text)
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_note, "only owners and staff write notes")
            memo = await uow.memos.add(
                Memo(
                    subscription_id=subscription.id,
                    kind=MemoKind.NOTE,
                    text=text,
                    author_id=rights.user_id,
                    created_at=now,
                )
            )
            await uow.history.add(
                _event(
                    "memo.added",
                    subscription,
                    rights.user_id,
                    now,
                    {"memo": memo.id, "kind": MemoKind.NOTE.value},
                )
            )
            await uow.commit()
        return MemoChange(memo)


@dataclass(frozen=True, slots=True)
class AddMemoRequest:
    actor_id: int
    subscription_id: int
    kind: MemoKind  # CREDIT or DEBIT
    amount: int
    reason: str


class AddMemo:
    """A credit or debit memo (amount, reason), by an agent or admin; it starts OPEN."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: AddMemoRequest) -> MemoChange:
        if req.kind not in (MemoKind.CREDIT, MemoKind.DEBIT):
            raise InvalidInput("a memo is a credit or a debit", reason="memo.kind")
        if not 0 < req.amount <= MAX_MEMO_AMOUNT:
            raise InvalidInput("amount out of range", field="amount", reason="amount.range")
        reason = validate_memo_text(req.reason, name="reason")
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_memo, "only agents and admins write credit/debit memos")
            memo = await uow.memos.add(
                Memo(
                    subscription_id=subscription.id,
                    kind=req.kind,
                    text=reason,
                    author_id=rights.user_id,
                    created_at=now,
                    amount=req.amount,
                    status=MemoStatus.OPEN,
                )
            )
            await uow.history.add(
                _event(
                    "memo.added",
                    subscription,
                    rights.user_id,
                    now,
                    {"memo": memo.id, "kind": req.kind.value, "amount": req.amount},
                )
            )
            await uow.commit()
        return MemoChange(memo)


@dataclass(frozen=True, slots=True)
class SetMemoStatusRequest:
    actor_id: int
    subscription_id: int
    memo_id: int
    status: MemoStatus  # APPLIED or CANCELLED


class SetMemoStatus:
    """An OPEN credit/debit memo becomes APPLIED or CANCELLED (agents and admins); a memo
    already closed, or a note, is refused."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: SetMemoStatusRequest) -> MemoChange:
        if req.status not in (MemoStatus.APPLIED, MemoStatus.CANCELLED):
            raise InvalidInput("a memo is applied or cancelled", reason="memo.status")
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_memo, "only agents and admins change memos")
            memo = await uow.memos.get(MemoId(req.memo_id))
            if memo is None or memo.subscription_id != subscription.id:
                raise PermissionDenied("memo not of this subscription")
            if memo.status is not MemoStatus.OPEN:
                return MemoChange(memo, changed=False)
            await uow.memos.set_status(memo.id, req.status)
            await uow.history.add(
                _event(
                    "memo.status_changed",
                    subscription,
                    rights.user_id,
                    now,
                    {
                        "memo": memo.id,
                        "kind": memo.kind.value,
                        "amount": memo.amount or 0,
                        "status": req.status.value,
                    },
                )
            )
            await uow.commit()
        return MemoChange(replace(memo, status=req.status))
