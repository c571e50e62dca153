"""Care: satisfaction ratings, booking reminder claims, messages kept for the web chat.

Revision ID: 0003_care
Revises: 0003 (the handoff queue)
Create Date: 2026-12-02

Written to match bot/care/models.py (checked by the autogenerate diff in the tests). The
revision id names the feature; it was written beside the handoff queue's 0003 and now
follows it in one chain (the store is upgraded to "heads", bot.booking.db.upgrade_schema).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_care"
down_revision = "0003"  # after the handoff queue (0003_handoff.py)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "satisfaction_ratings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=160), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_ratings")),
        sa.UniqueConstraint(
            "conversation_id", name=op.f("uq_satisfaction_ratings_conversation_id")
        ),
    )
    op.create_index("ix_satisfaction_ratings_asked_at", "satisfaction_ratings", ["asked_at"])
    op.create_table(
        "booking_reminders",
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_booking_reminders_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_booking_reminders")),
    )
    op.create_table(
        "kept_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_messages")),
    )
    op.create_index("ix_kept_messages_sender", "kept_messages", ["sender_id", "channel"])


def downgrade() -> None:
    op.drop_index("ix_kept_messages_sender", table_name="kept_messages")
    op.drop_table("kept_messages")
    op.drop_table("booking_reminders")
    op.drop_index("ix_satisfaction_ratings_asked_at", table_name="satisfaction_ratings")
    op.drop_table("satisfaction_ratings")
