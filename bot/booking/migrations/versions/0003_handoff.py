"""The human-handoff queue: cases and their messages (bot/handoff/models.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Why: a hand-over used to be a list of phone numbers; now it is a case staff take from the
guide console's queue, with a masked summary and the messages both ways.
Written to match bot/handoff/models.py (checked by the autogenerate diff in the tests).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'waiting'"), nullable=False
        ),
        sa.Column("priority", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("emergency", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), server_default=sa.text("'zh'"), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("taken_by", sa.String(length=64), nullable=True),
        sa.Column("closed_by", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_citizen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_cases")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_handoff_cases_token_hash")),
    )
    op.create_index("ix_handoff_cases_sender", "handoff_cases", ["sender_id", "channel", "status"])
    op.create_index(
        "ix_handoff_cases_status", "handoff_cases", ["status", "priority", "created_at"]
    )
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_via", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["handoff_cases.id"],
            name=op.f("fk_handoff_messages_case_id_handoff_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_messages")),
    )
    op.create_index("ix_handoff_messages_case", "handoff_messages", ["case_id", "delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_handoff_messages_case", table_name="handoff_messages")
    op.drop_table("handoff_messages")
    op.drop_index("ix_handoff_cases_status", table_name="handoff_cases")
    op.drop_index("ix_handoff_cases_sender", table_name="handoff_cases")
    op.drop_table("handoff_cases")
