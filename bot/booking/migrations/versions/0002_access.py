"""Access from the database: verification grants, failed last-four tries, pending personal data.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Why: access to a booking used to follow a tracker slot ("verified"), which anyone with the
HTTP API could set; failed tries were counted per form; sealed IDs and phones lived in slots.
Written to match bot/booking/models.py (checked by the autogenerate diff in the tests).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_access_grants_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
    )
    op.create_index(
        "ix_access_grants_booking_sender", "access_grants", ["booking_id", "sender_id", "channel"]
    )
    op.create_table(
        "verification_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_failures")),
    )
    op.create_index("ix_verification_failures_code_at", "verification_failures", ["code", "at"])
    op.create_index(
        "ix_verification_failures_sender_at", "verification_failures", ["sender_id", "at"]
    )
    op.create_table(
        "pending_personal",
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "field", name=op.f("pk_pending_personal")),
    )
    op.create_index("ix_pending_personal_expires_at", "pending_personal", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_personal_expires_at", table_name="pending_personal")
    op.drop_table("pending_personal")
    op.drop_index("ix_verification_failures_sender_at", table_name="verification_failures")
    op.drop_index("ix_verification_failures_code_at", table_name="verification_failures")
    op.drop_table("verification_failures")
    op.drop_index("ix_access_grants_booking_sender", table_name="access_grants")
    op.drop_table("access_grants")
