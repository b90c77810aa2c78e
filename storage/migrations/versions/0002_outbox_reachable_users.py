"""Reachable users and the outbox: ``users.language_code``, ``users.chat_seen_at`` (the user
wrote to the bot, so their private chat exists) and ``users.unreachable_at`` (Telegram refused
a message to them since); the ``outbox`` table of messages owed to chats.

Users whose Telegram profile was stored before (a non-empty first name: they opened the chat
with ``/start``) count as seen at their creation, so nobody reachable yesterday is lost.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language_code", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("chat_seen_at", TS, nullable=True))
        batch.add_column(sa.Column("unreachable_at", TS, nullable=True))
    op.execute("UPDATE users SET chat_seen_at = created_at WHERE first_name <> ''")
    op.create_table(
        "outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("available_at", TS, nullable=False),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_status_available_at", "outbox", ["status", "available_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_status_available_at", table_name="outbox")
    op.drop_table("outbox")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("unreachable_at")
        batch.drop_column("chat_seen_at")
        batch.drop_column("language_code")
