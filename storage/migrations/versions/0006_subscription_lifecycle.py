"""The subscription's life after registration: ``renewal_reminders`` (one row per reminder sent,
unique per subscription, period end and days before it), an index to find the subscriptions
whose period ends, and ``catalog_promotions.purchases`` (what a promotion discounts: new
registrations, renewals; NULL for rows before this revision means new registrations only).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "renewal_reminders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_renewal_reminders_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_reminders")),
        sa.UniqueConstraint(
            "subscription_id",
            "period_end",
            "days",
            name=op.f("uq_renewal_reminders_subscription_id_period_end_days"),
        ),
    )
    with op.batch_alter_table("subscriptions") as batch:
        batch.create_index(
            "ix_subscriptions_status_period_end", ["status", "current_period_end"], unique=False
        )
    with op.batch_alter_table("catalog_promotions") as batch:
        batch.add_column(sa.Column("purchases", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_promotions") as batch:
        batch.drop_column("purchases")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index("ix_subscriptions_status_period_end")
    op.drop_table("renewal_reminders")
