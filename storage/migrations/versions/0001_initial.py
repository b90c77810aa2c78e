"""The initial schema: accounts, enterprises, catalog, orders, payments, subscriptions,
invoices, memos, employees, history, invitations, join requests, conversations, counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: surrogate ids: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: timestamps are stored in UTC
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catalog_promotions",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("percent", sa.String(length=16), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("max_discount", sa.BigInteger(), nullable=True),
        sa.Column("applies_to", sa.JSON(), nullable=True),
        sa.Column("starts", sa.Date(), nullable=True),
        sa.Column("ends", sa.Date(), nullable=True),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("per_customer", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_promotions")),
    )
    op.create_table(
        "catalog_services",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalog_services")),
    )
    op.create_table(
        "conversations",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_conversations")),
    )
    op.create_index(op.f("ix_conversations_updated_at"), "conversations", ["updated_at"])

    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "enterprises",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("tax_code", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("address", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("province", sa.String(length=100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("tax_code", name=op.f("uq_enterprises_tax_code")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_name", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_agent", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "catalog_addons",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tax", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["catalog_services.code"],
            name=op.f("fk_catalog_addons_service_code_catalog_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_addons")),
        sa.UniqueConstraint(
            "service_code", "code", name=op.f("uq_catalog_addons_service_code_code")
        ),
    )
    op.create_table(
        "catalog_plans",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tax", sa.String(length=8), nullable=False),
        sa.Column("pricing", sa.String(length=16), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("addons", sa.JSON(), nullable=False),
        sa.Column("setup_fee", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_code"],
            ["catalog_services.code"],
            name=op.f("fk_catalog_plans_service_code_catalog_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_plans")),
        sa.UniqueConstraint(
            "service_code", "code", name=op.f("uq_catalog_plans_service_code_code")
        ),
    )
    op.create_table(
        "invitations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_by", sa.BigInteger(), nullable=True),
        sa.Column("used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_invitations_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_invitations_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["used_by"], ["users.id"], name=op.f("fk_invitations_used_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token", name=op.f("uq_invitations_token")),
    )
    op.create_index(op.f("ix_invitations_enterprise_id"), "invitations", ["enterprise_id"])

    op.create_table(
        "join_requests",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_join_requests_decided_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_join_requests_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_join_requests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_requests")),
    )
    op.create_index(
        "ix_join_requests_enterprise_status", "join_requests", ["enterprise_id", "status"]
    )
    op.create_index(op.f("ix_join_requests_user_id"), "join_requests", ["user_id"])

    op.create_table(
        "memberships",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_memberships_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "enterprise_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_enterprise_id"), "memberships", ["enterprise_id"])

    op.create_table(
        "orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("registered_by", sa.BigInteger(), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("cycle_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("addon_codes", sa.JSON(), nullable=False),
        sa.Column("plan_promotion", sa.String(length=64), nullable=True),
        sa.Column("addon_promotions", sa.JSON(), nullable=False),
        sa.Column("invoice_promotions", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("quote", sa.JSON(), nullable=False),
        sa.Column("invoice_info", sa.JSON(), nullable=False),
        sa.Column("customer_info", sa.JSON(), nullable=False),
        sa.Column("contact", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_orders_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by"], ["users.id"], name=op.f("fk_orders_registered_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("code", name=op.f("uq_orders_code")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_orders_idempotency_key")),
    )
    op.create_index(op.f("ix_orders_enterprise_id"), "orders", ["enterprise_id"])
    op.create_index("ix_orders_status_expires_at", "orders", ["status", "expires_at"])

    op.create_table(
        "catalog_cycles",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("every", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["catalog_plans.id"], name=op.f("fk_catalog_cycles_plan_id_catalog_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_cycles")),
        sa.UniqueConstraint("plan_id", "code", name=op.f("uq_catalog_cycles_plan_id_code")),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("merchant_order_id", sa.String(length=50), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("create_date", sa.String(length=14), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("response_code", sa.String(length=8), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("notified_at", TS, nullable=True),
        sa.Column("last_queried_at", TS, nullable=True),
        sa.Column("query_count", sa.Integer(), nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_attempts_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint(
            "merchant_order_id", name=op.f("uq_payment_attempts_merchant_order_id")
        ),
    )
    op.create_index(op.f("ix_payment_attempts_order_id"), "payment_attempts", ["order_id"])
    op.create_index(
        "ix_payment_attempts_status_created_at", "payment_attempts", ["status", "created_at"]
    )

    op.create_table(
        "promotion_redemptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("promotion_code", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_promotion_redemptions_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_promotion_redemptions_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["promotion_code"],
            ["catalog_promotions.code"],
            name=op.f("fk_promotion_redemptions_promotion_code_catalog_promotions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_redemptions")),
        sa.UniqueConstraint(
            "order_id",
            "promotion_code",
            name=op.f("uq_promotion_redemptions_order_id_promotion_code"),
        ),
    )
    op.create_index(
        "ix_promotion_redemptions_code_enterprise",
        "promotion_redemptions",
        ["promotion_code", "enterprise_id"],
    )

    op.create_table(
        "subscriptions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("cycle_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("addon_codes", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.String(length=16), nullable=True),
        sa.Column("registered_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("current_period_start", TS, nullable=True),
        sa.Column("current_period_end", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_subscriptions_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_subscriptions_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["registered_by"], ["users.id"], name=op.f("fk_subscriptions_registered_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("code", name=op.f("uq_subscriptions_code")),
    )
    op.create_index(
        "ix_subscriptions_enterprise_created", "subscriptions", ["enterprise_id", "created_at"]
    )
    op.create_index(op.f("ix_subscriptions_order_id"), "subscriptions", ["order_id"])

    op.create_table(
        "employees",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_employees_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employees")),
    )
    op.create_index(op.f("ix_employees_subscription_id"), "employees", ["subscription_id"])

    op.create_table(
        "history_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("enterprise_id", ID, nullable=True),
        sa.Column("subscription_id", ID, nullable=True),
        sa.Column("order_id", ID, nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_history_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_history_events_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_history_events_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_history_events_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_history_events")),
    )
    op.create_index(op.f("ix_history_events_enterprise_id"), "history_events", ["enterprise_id"])
    op.create_index(op.f("ix_history_events_order_id"), "history_events", ["order_id"])
    op.create_index(
        op.f("ix_history_events_subscription_id"), "history_events", ["subscription_id"]
    )

    op.create_table(
        "invoices",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("subscription_id", ID, nullable=True),
        sa.Column("enterprise_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount_total", sa.BigInteger(), nullable=False),
        sa.Column("vat_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("payment_method", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("issued_at", TS, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("confirmed_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["users.id"], name=op.f("fk_invoices_confirmed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_invoices_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_invoices_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_invoices_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    op.create_index(op.f("ix_invoices_enterprise_id"), "invoices", ["enterprise_id"])
    op.create_index(op.f("ix_invoices_order_id"), "invoices", ["order_id"])
    op.create_index(op.f("ix_invoices_subscription_id"), "invoices", ["subscription_id"])

    op.create_table(
        "memos",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_memos_author_id_users")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_memos_subscription_id_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memos")),
    )
    op.create_index(op.f("ix_memos_subscription_id"), "memos", ["subscription_id"])

    op.create_table(
        "payment_applications",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("payment_attempt_id", ID, nullable=False),
        sa.Column("merchant_order_id", sa.String(length=50), nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("applied_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_payment_applications_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["payment_attempt_id"],
            ["payment_attempts.id"],
            name=op.f("fk_payment_applications_payment_attempt_id_payment_attempts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_applications")),
        sa.UniqueConstraint(
            "merchant_order_id", name=op.f("uq_payment_applications_merchant_order_id")
        ),
        sa.UniqueConstraint("order_id", name=op.f("uq_payment_applications_order_id")),
        sa.UniqueConstraint(
            "payment_attempt_id", name=op.f("uq_payment_applications_payment_attempt_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("payment_applications")
    op.drop_table("memos")
    op.drop_table("invoices")
    op.drop_table("history_events")
    op.drop_table("employees")
    op.drop_table("subscriptions")
    op.drop_table("promotion_redemptions")
    op.drop_table("payment_attempts")
    op.drop_table("catalog_cycles")
    op.drop_table("orders")
    op.drop_table("memberships")
    op.drop_table("join_requests")
    op.drop_table("invitations")
    op.drop_table("catalog_plans")
    op.drop_table("catalog_addons")
    op.drop_table("users")
    op.drop_table("enterprises")
    op.drop_table("counters")
    op.drop_table("conversations")
    op.drop_table("catalog_services")
    op.drop_table("catalog_promotions")
