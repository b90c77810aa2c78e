"""What an order buys: ``orders.purpose`` (NEW, RENEWAL, CHANGE) and ``orders.subscription_id``,
the existing subscription a renewal or change order acts on. Existing orders are NEW.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="NEW", nullable=False)
        )
        batch.add_column(sa.Column("subscription_id", ID, nullable=True))
        batch.create_foreign_key(
            op.f("fk_orders_subscription_id_subscriptions"),
            "subscriptions",
            ["subscription_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_orders_subscription_id"), ["subscription_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_index(op.f("ix_orders_subscription_id"))
        batch.drop_constraint(op.f("fk_orders_subscription_id_subscriptions"), type_="foreignkey")
        batch.drop_column("subscription_id")
        batch.drop_column("purpose")
