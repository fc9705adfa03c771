"""Fetcher politeness: per-host state (spacing, Retry-After hold, robots.txt cache), adaptive scheduling and
backfill/WebSub columns on source, GUID lookup index on document.

Revision ID: b1f0e7a2c001
Revises: 02a7bd67f97b
Create Date: 2026-11-28 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b1f0e7a2c001"
down_revision: str | None = "02a7bd67f97b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "fetch_host",
        sa.Column("host", sa.String(length=300), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_reason", sa.Text(), nullable=True),
        sa.Column("robots_status", sa.Integer(), nullable=True),
        sa.Column("robots_body", sa.Text(), nullable=True),
        sa.Column("robots_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("robots_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_fetch_host")),
    )
    op.create_index("ix_document_source_id_guid", "document", ["source_id", "guid"], unique=False)
    with op.batch_alter_table("source") as batch:
        batch.add_column(sa.Column("rate_per_week", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ttl_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("last_unconditional_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("polls", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("backfill", _JSON, nullable=True))
        batch.add_column(sa.Column("websub_hub", sa.Text(), nullable=True))
        batch.add_column(sa.Column("websub_topic", sa.Text(), nullable=True))
        batch.add_column(sa.Column("websub_secret", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("websub_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source") as batch:
        for column in (
            "websub_lease_until",
            "websub_secret",
            "websub_topic",
            "websub_hub",
            "backfill",
            "polls",
            "last_unconditional_at",
            "ttl_s",
            "rate_per_week",
        ):
            batch.drop_column(column)
    op.drop_index("ix_document_source_id_guid", table_name="document")
    op.drop_table("fetch_host")
