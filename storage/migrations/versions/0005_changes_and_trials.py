"""Đổi gói and Dùng thử: plans gain ``trial_days`` and ``downgrade`` (catalog keys); the
``scheduled_changes`` table (a downgrade waiting for the period end, one per subscription) and
the ``trials`` table (one trial per business and service: a unique constraint).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("catalog_plans") as batch:
        batch.add_column(
            sa.Column("trial_days", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "downgrade", sa.String(length=16), server_default="immediately", nullable=False
            )
        )
    op.create_table(
        "scheduled_changes",
        sa.Column("subscription_id", ID, autoincrement=False, nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("cycle_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("addon_codes", sa.JSON(), nullable=False),
        sa.Column("effective_at", TS, nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_scheduled_changes_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_scheduled_changes_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_scheduled_changes")),
    )
    op.create_index(
        op.f("ix_scheduled_changes_effective_at"), "scheduled_changes", ["effective_at"]
    )
    op.create_table(
        "trials",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("started_by", sa.BigInteger(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("reminded_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_trials_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_trials_subscription_id_subscriptions"),
        ),
        sa.ForeignKeyConstraint(
            ["started_by"], ["users.id"], name=op.f("fk_trials_started_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trials")),
        sa.UniqueConstraint(
            "enterprise_id", "service_code", name=op.f("uq_trials_enterprise_id_service_code")
        ),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_trials_subscription_id")),
    )
    op.create_index(op.f("ix_trials_ends_at"), "trials", ["ends_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trials_ends_at"), table_name="trials")
    op.drop_table("trials")
    op.drop_index(op.f("ix_scheduled_changes_effective_at"), table_name="scheduled_changes")
    op.drop_table("scheduled_changes")
    with op.batch_alter_table("catalog_plans") as batch:
        batch.drop_column("downgrade")
        batch.drop_column("trial_days")
