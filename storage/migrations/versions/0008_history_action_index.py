"""``ix_history_events_action_id``: the newest events of some actions across all businesses
(the amounts due for refund that ``/refund`` lists) read without scanning the whole history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_history_events_action_id", "history_events", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_history_events_action_id", table_name="history_events")
