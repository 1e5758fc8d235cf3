"""The schema as it stood when migrations began: every table of the service, new databases
and those made by earlier versions alike.

The tables are a snapshot written here (not the models, which move on): a new database gets
them all; a database made before migrations gets what it lacks, and the changes earlier
versions applied at start (``agent/migrations/before_alembic.py``).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agent.migrations import before_alembic

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SNAPSHOT = sa.MetaData()

sa.Table("claims", SNAPSHOT,
    sa.Column("id", sa.String(length=16), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("order_id", sa.String(length=32), nullable=False),
    sa.Column("refund_id", sa.Integer(), nullable=True),
    sa.Column("asin", sa.String(length=10), nullable=True),
    sa.Column("marketplace", sa.String(length=2), nullable=False),
    sa.Column("reason", sa.String(length=48), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tracking_id", sa.String(length=64), nullable=True),
    sa.Column("signature_confirmed", sa.Boolean(), nullable=False),
    sa.Column("amount_claimed", sa.String(length=24), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_ends_on", sa.String(length=10), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision_reason", sa.Text(), nullable=True),
    sa.Column("amount_granted", sa.String(length=24), nullable=True),
    sa.Column("evidence", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)

sa.Table("contacts", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("marketplace", sa.String(length=2), nullable=False),
    sa.Column("order_id", sa.String(length=32), nullable=False),
    sa.Column("day", sa.Date(), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("outcome", sa.String(length=16), nullable=False),
    sa.Column("turns", sa.Integer(), nullable=False),
    sa.Column("conversation_id", sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("order_id", "day"),
)

sa.Table("conversations", SNAPSHOT,
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("thread_key", sa.String(length=512), nullable=False),
    sa.Column("contact", sa.String(length=320), nullable=False),
    sa.Column("language", sa.String(length=2), nullable=True),
    sa.Column("marketplace", sa.String(length=2), nullable=True),
    sa.Column("order_id", sa.String(length=32), nullable=True),
    sa.Column("verified_order_id", sa.String(length=32), nullable=True),
    sa.Column("verified_contact", sa.String(length=320), nullable=True),
    sa.Column("asin", sa.String(length=10), nullable=True),
    sa.Column("pending", sa.String(length=32), nullable=True),
    sa.Column("pending_intent", sa.String(length=32), nullable=True),
    sa.Column("pending_reason", sa.String(length=32), nullable=True),
    sa.Column("misunderstood", sa.Integer(), nullable=False),
    sa.Column("state", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("channel", "thread_key"),
)

sa.Table("enrolment_periods", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("enrolled_on", sa.Date(), nullable=False),
    sa.Column("opted_out_on", sa.Date(), nullable=True),
    sa.Column("source", sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("seller_id", "enrolled_on"),
)

sa.Table("handovers", SNAPSHOT,
    sa.Column("id", sa.String(length=16), nullable=False),
    sa.Column("source_key", sa.String(length=300), nullable=False),
    sa.Column("source", sa.String(length=8), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=True),
    sa.Column("order_id", sa.String(length=32), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("rule", sa.String(length=48), nullable=True),
    sa.Column("outcome", sa.String(length=16), nullable=True),
    sa.Column("case_id", sa.String(length=16), nullable=True),
    sa.Column("answered_by", sa.String(length=8), nullable=True),
    sa.Column("conversation_id", sa.String(length=32), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("source_key"),
)

sa.Table("mail_secrets", SNAPSHOT,
    sa.Column("name", sa.String(length=32), nullable=False),
    sa.Column("value", sa.LargeBinary(length=64), nullable=False),
    sa.PrimaryKeyConstraint("name"),
)

sa.Table("orders", SNAPSHOT,
    sa.Column("order_id", sa.String(length=32), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("marketplace", sa.String(length=2), nullable=False),
    sa.Column("customer_email", sa.String(length=320), nullable=True),
    sa.Column("customer_phone", sa.String(length=32), nullable=True),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("order_id"),
)

sa.Table("outbox", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("dedupe_key", sa.String(length=128), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("recipient", sa.String(length=320), nullable=False),
    sa.Column("subject", sa.String(length=256), nullable=True),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("meta", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("dedupe_key"),
)

sa.Table("product_pages", SNAPSHOT,
    sa.Column("asin", sa.String(length=10), nullable=False),
    sa.Column("marketplace", sa.String(length=2), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("content_hash", sa.String(length=64), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("asin", "marketplace"),
)

sa.Table("refunds", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("order_id", sa.String(length=32), nullable=False),
    sa.Column("asin", sa.String(length=10), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("amount", sa.String(length=32), nullable=False),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("rule", sa.String(length=64), nullable=False),
    sa.Column("case_id", sa.String(length=16), nullable=True),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(length=24), server_default="returnless_refund", nullable=False),
    sa.Column("reason", sa.String(length=48), nullable=True),
    sa.Column("issued_by", sa.String(length=8), server_default="service", nullable=False),
    sa.Column("return_delivered_on", sa.Date(), nullable=True),
    sa.Column("units", sa.Integer(), nullable=True),
    sa.Column("cause", sa.String(length=80), server_default="legacy", nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("order_id", "asin", "cause", name="uq_refunds_order_asin_cause"),
)

sa.Table("seller_answers", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("asin", sa.String(length=10), nullable=False),
    sa.Column("marketplace", sa.String(length=2), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("case_id", sa.String(length=16), nullable=False),
    sa.Column("answer", sa.Text(), nullable=False),
    sa.Column("answer_hash", sa.String(length=64), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("consented", sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("asin", "marketplace", "answer_hash"),
    sa.UniqueConstraint("case_id"),
)

sa.Table("seller_mail", SNAPSHOT,
    sa.Column("message_id", sa.String(length=255), nullable=False),
    sa.Column("case_id", sa.String(length=16), nullable=True),
    sa.Column("result", sa.String(length=16), nullable=False),
    sa.Column("reason", sa.String(length=16), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("message_id"),
)

sa.Table("seller_tokens", SNAPSHOT,
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("token_hash"),
)

sa.Table("sellers", SNAPSHOT,
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("seller_id"),
)

sa.Table("valid_tracking_rates", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("month", sa.String(length=7), nullable=False),
    sa.Column("rate", sa.String(length=16), nullable=False),
    sa.Column("source", sa.String(length=16), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("seller_id", "month"),
)

sa.Table("cases", SNAPSHOT,
    sa.Column("id", sa.String(length=16), nullable=False),
    sa.Column("seller_id", sa.String(length=64), nullable=False),
    sa.Column("order_id", sa.String(length=32), nullable=True),
    sa.Column("marketplace", sa.String(length=2), nullable=False),
    sa.Column("asins", sa.JSON(), nullable=False),
    sa.Column("category", sa.String(length=48), nullable=False),
    sa.Column("question", sa.Text(), nullable=False),
    sa.Column("needs", sa.Text(), nullable=False),
    sa.Column("topic", sa.String(length=64), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answer", sa.Text(), nullable=True),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("add_to_knowledge", sa.Boolean(), nullable=False),
    sa.Column("resolution", sa.JSON(), nullable=True),
    sa.Column("expiry_rule", sa.String(length=64), nullable=True),
    sa.Column("decision", sa.JSON(), nullable=True),
    sa.Column("conversation_id", sa.String(length=32), nullable=False),
    sa.Column("language", sa.String(length=2), nullable=False),
    sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ),
    sa.PrimaryKeyConstraint("id"),
)

sa.Table("messages", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("conversation_id", sa.String(length=32), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("provider_message_id", sa.String(length=512), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reply", sa.JSON(), nullable=True),
    sa.Column("awaiting_delivery", sa.Boolean(), server_default="0", nullable=False),
    sa.Column("verified_contact", sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("channel", "provider_message_id"),
)

sa.Table("sent_email_ids", SNAPSHOT,
    sa.Column("message_id", sa.String(length=255), nullable=False),
    sa.Column("outbox_id", sa.Integer(), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("conversation_id", sa.String(length=32), nullable=True),
    sa.Column("case_id", sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], ),
    sa.PrimaryKeyConstraint("message_id"),
)

sa.Table("verification_codes", SNAPSHOT,
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("conversation_id", sa.String(length=32), nullable=False),
    sa.Column("order_id", sa.String(length=32), nullable=False),
    sa.Column("salt", sa.String(length=32), nullable=False),
    sa.Column("code_hash", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("tries", sa.Integer(), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent", sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ),
    sa.PrimaryKeyConstraint("id"),
)

sa.Table("turn_claims", SNAPSHOT,
    sa.Column("message_id", sa.Integer(), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ),
    sa.PrimaryKeyConstraint("message_id"),
)


# (name, table, columns, unique)
INDEXES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("ix_claims_order_id", "claims", ("order_id",), False),
    ("ix_claims_seller_id", "claims", ("seller_id",), False),
    ("ix_claims_status", "claims", ("status",), False),
    ("uq_claims_refund_id", "claims", ("refund_id",), True),
    ("ix_contacts_day", "contacts", ("day",), False),
    ("ix_contacts_seller_id", "contacts", ("seller_id",), False),
    ("ix_enrolment_periods_seller_id", "enrolment_periods", ("seller_id",), False),
    ("ix_handovers_order_id", "handovers", ("order_id",), False),
    ("ix_handovers_seller_id", "handovers", ("seller_id",), False),
    ("ix_orders_customer_email", "orders", ("customer_email",), False),
    ("ix_orders_customer_phone", "orders", ("customer_phone",), False),
    ("ix_orders_seller_id", "orders", ("seller_id",), False),
    ("ix_outbox_sent_at", "outbox", ("sent_at",), False),
    ("ix_product_pages_seller_id", "product_pages", ("seller_id",), False),
    ("ix_refunds_order_id", "refunds", ("order_id",), False),
    ("ix_refunds_seller_id", "refunds", ("seller_id",), False),
    ("ix_seller_answers_asin", "seller_answers", ("asin",), False),
    ("ix_seller_answers_seller_id", "seller_answers", ("seller_id",), False),
    ("ix_seller_mail_case_id", "seller_mail", ("case_id",), False),
    ("ix_seller_tokens_seller_id", "seller_tokens", ("seller_id",), False),
    ("ix_valid_tracking_rates_seller_id", "valid_tracking_rates", ("seller_id",), False),
    ("ix_cases_due_at", "cases", ("due_at",), False),
    ("ix_cases_order_id", "cases", ("order_id",), False),
    ("ix_cases_seller_id", "cases", ("seller_id",), False),
    ("ix_cases_status", "cases", ("status",), False),
    ("ix_messages_conversation_id", "messages", ("conversation_id",), False),
    ("ix_sent_email_ids_case_id", "sent_email_ids", ("case_id",), False),
    ("ix_sent_email_ids_conversation_id", "sent_email_ids", ("conversation_id",), False),
    ("ix_sent_email_ids_outbox_id", "sent_email_ids", ("outbox_id",), False),
    ("ix_verification_codes_conversation_id", "verification_codes", ("conversation_id",), False),
    ("ix_verification_codes_created_at", "verification_codes", ("created_at",), False),
    ("ix_verification_codes_order_id", "verification_codes", ("order_id",), False),
)
for _name, _table, _columns, _unique in INDEXES:
    sa.Index(_name, *(SNAPSHOT.tables[_table].c[c] for c in _columns), unique=_unique)


def upgrade() -> None:
    connection = op.get_bind()
    # Tables made by an earlier version change first: the index of one claim per refund is
    # made on a claims table that no longer has one claim per order.
    before_alembic.bring_up(connection, SNAPSHOT)
    SNAPSHOT.create_all(connection, checkfirst=True)


def downgrade() -> None:
    SNAPSHOT.drop_all(op.get_bind())
