"""Invitations to join an enterprise and requests to join one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from domain.model import (
    EnterpriseId,
    Invitation,
    InvitationId,
    JoinRequest,
    JoinRequestId,
    JoinRequestStatus,
    Role,
    UserId,
)
from storage.models import InvitationRow, JoinRequestRow
from storage.repositories._common import SqlRepository, rowcount

_NO_SYNC = {"synchronize_session": False}


def to_invitation(row: Any) -> Invitation:
    return Invitation(
        id=InvitationId(row.id),
        token=row.token,
        enterprise_id=EnterpriseId(row.enterprise_id),
        role=Role(row.role),
        created_by=UserId(row.created_by),
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_by=UserId(row.used_by) if row.used_by is not None else None,
        used_at=row.used_at,
        invitee_id=UserId(row.invitee_id) if row.invitee_id is not None else None,
    )


class SqlInvitationRepository(SqlRepository):
    __slots__ = ()

    async def add(self, invitation: Invitation) -> Invitation:
        new_id = (
            await self._session.execute(
                self._insert(InvitationRow)
                .values(
                    token=invitation.token,
                    enterprise_id=invitation.enterprise_id,
                    role=invitation.role.value,
                    created_by=invitation.created_by,
                    created_at=invitation.created_at,
                    expires_at=invitation.expires_at,
                    used_by=invitation.used_by,
                    used_at=invitation.used_at,
                    invitee_id=invitation.invitee_id,
                )
                .returning(InvitationRow.id)
            )
        ).scalar_one()
        return replace(invitation, id=InvitationId(new_id))

    async def get_by_token(self, token: str, *, for_update: bool = False) -> Invitation | None:
        stmt = select(InvitationRow).where(InvitationRow.token == token)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_invitation(row) if row is not None else None

    async def mark_used(self, token: str, user_id: UserId, at: datetime) -> bool:
        result = await self._session.execute(
            update(InvitationRow)
            .where(InvitationRow.token == token, InvitationRow.used_by.is_(None))
            .values(used_by=user_id, used_at=at)
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result) > 0

    async def for_enterprise(self, enterprise_id: EnterpriseId) -> list[Invitation]:
        rows = await self._session.scalars(
            select(InvitationRow)
            .where(InvitationRow.enterprise_id == enterprise_id)
            .order_by(InvitationRow.created_at.desc(), InvitationRow.id.desc())
        )
        return [to_invitation(r) for r in rows]


def to_join_request(row: Any) -> JoinRequest:
    return JoinRequest(
        id=JoinRequestId(row.id),
        user_id=UserId(row.user_id),
        enterprise_id=EnterpriseId(row.enterprise_id),
        status=JoinRequestStatus(row.status),
        decided_by=UserId(row.decided_by) if row.decided_by is not None else None,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )


class SqlJoinRequestRepository(SqlRepository):
    __slots__ = ()

    async def add(self, request: JoinRequest) -> JoinRequest:
        new_id = (
            await self._session.execute(
                self._insert(JoinRequestRow)
                .values(
                    user_id=request.user_id,
                    enterprise_id=request.enterprise_id,
                    status=request.status.value,
                    decided_by=request.decided_by,
                    created_at=request.created_at,
                    decided_at=request.decided_at,
                )
                .returning(JoinRequestRow.id)
            )
        ).scalar_one()
        return replace(request, id=JoinRequestId(new_id))

    async def get(self, request_id: JoinRequestId) -> JoinRequest | None:
        row = await self._session.scalar(
            select(JoinRequestRow).where(JoinRequestRow.id == request_id)
        )
        return to_join_request(row) if row is not None else None

    async def pending_for_enterprise(self, enterprise_id: EnterpriseId) -> list[JoinRequest]:
        rows = await self._session.scalars(
            select(JoinRequestRow)
            .where(
                JoinRequestRow.enterprise_id == enterprise_id,
                JoinRequestRow.status == JoinRequestStatus.PENDING.value,
            )
            .order_by(JoinRequestRow.created_at, JoinRequestRow.id)
        )
        return [to_join_request(r) for r in rows]

    async def pending_for_user(self, user_id: UserId) -> list[JoinRequest]:
        rows = await self._session.scalars(
            select(JoinRequestRow)
            .where(
                JoinRequestRow.user_id == user_id,
                JoinRequestRow.status == JoinRequestStatus.PENDING.value,
            )
            .order_by(JoinRequestRow.created_at, JoinRequestRow.id)
        )
        return [to_join_request(r) for r in rows]

    async def decide(
        self,
        request_id: JoinRequestId,
        status: JoinRequestStatus,
        decided_by: UserId,
        at: datetime,
    ) -> bool:
        if status is JoinRequestStatus.PENDING:
            raise ValueError("a decision is ACCEPTED or REFUSED")
        result = await self._session.execute(
            update(JoinRequestRow)
            .where(
                JoinRequestRow.id == request_id,
                JoinRequestRow.status == JoinRequestStatus.PENDING.value,
            )
            .values(status=status.value, decided_by=decided_by, decided_at=at)
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result) > 0
