"""Issue 5: meeting versions and change log, syndicated-copy fingerprints, split pins, alert deliveries.

Revision ID: c2e1f8b3d002
Revises: b1f0e7a2c001
Create Date: 2026-11-28 20:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c2e1f8b3d002"
down_revision: str | None = "b1f0e7a2c001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("aggregate_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("document_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_log")),
    )
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_change_log_aggregate_id"), ["aggregate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_change_log_created_at"), ["created_at"], unique=False)

    op.create_table(
        "endpoint",
        sa.Column("channel_key", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_key", name=op.f("pk_endpoint")),
    )
    op.create_table(
        "alerted",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("meeting_id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("outbox_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"], ["meeting.id"], name=op.f("fk_alerted_meeting_id_meeting"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerted")),
        sa.UniqueConstraint("meeting_id", "rule", name=op.f("uq_alerted_meeting_id_rule")),
    )
    op.create_table(
        "delivery",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("outbox_id", sa.String(length=36), nullable=False),
        sa.Column("channel_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_delivery_outbox_id_outbox"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("outbox_id", "channel_key", name=op.f("uq_delivery_outbox_id_channel_key")),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_next_attempt_at"), ["next_attempt_at"], unique=False)

    op.create_table(
        "delivery_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["delivery.id"],
            name=op.f("fk_delivery_log_delivery_id_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_log")),
    )
    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_log_delivery_id"), ["delivery_id"], unique=False)

    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("simhash", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("sim_b0", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sim_b1", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sim_b2", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sim_b3", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("copy_of", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_document_sim_b0"), ["sim_b0"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_sim_b1"), ["sim_b1"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_sim_b2"), ["sim_b2"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_sim_b3"), ["sim_b3"], unique=False)
        batch_op.create_index(batch_op.f("ix_document_text_sha256"), ["text_sha256"], unique=False)

    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("pinned", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("meeting_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_index", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("pinned", sa.Boolean(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("meeting_source", schema=None) as batch_op:
        batch_op.drop_column("pinned")
        batch_op.drop_column("claim_index")

    with op.batch_alter_table("meeting", schema=None) as batch_op:
        batch_op.drop_column("retracted_at")
        batch_op.drop_column("pinned")
        batch_op.drop_column("version")

    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_text_sha256"))
        batch_op.drop_index(batch_op.f("ix_document_sim_b3"))
        batch_op.drop_index(batch_op.f("ix_document_sim_b2"))
        batch_op.drop_index(batch_op.f("ix_document_sim_b1"))
        batch_op.drop_index(batch_op.f("ix_document_sim_b0"))
        batch_op.drop_column("copy_of")
        batch_op.drop_column("sim_b3")
        batch_op.drop_column("sim_b2")
        batch_op.drop_column("sim_b1")
        batch_op.drop_column("sim_b0")
        batch_op.drop_column("simhash")
        batch_op.drop_column("text_sha256")

    with op.batch_alter_table("delivery_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_log_delivery_id"))

    op.drop_table("delivery_log")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_next_attempt_at"))

    op.drop_table("delivery")
    op.drop_table("alerted")
    op.drop_table("endpoint")
    with op.batch_alter_table("change_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_log_created_at"))
        batch_op.drop_index(batch_op.f("ix_change_log_aggregate_id"))

    op.drop_table("change_log")
