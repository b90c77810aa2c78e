"""Coupon codes: ``catalog_promotions.coupon_code``, the code a customer types to use a
promotion that is not offered in the lists (matched case-insensitively by the bot; the catalog
file keeps the codes unique case-insensitively). Existing promotions have none.

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


def upgrade() -> None:
    with op.batch_alter_table("catalog_promotions") as batch:
        batch.add_column(sa.Column("coupon_code", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_promotions") as batch:
        batch.drop_column("coupon_code")
