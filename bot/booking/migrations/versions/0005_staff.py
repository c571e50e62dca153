"""Guide-console staff accounts; the staff name on handoff messages.

Revision ID: 0005_staff
Revises: 0005_handoff_client
Create Date: 2026-12-02

Written to match bot/staff/models.py and bot/handoff/models.py (checked by the autogenerate
diff in tests/test_booking_repo.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_staff"
down_revision = "0005_handoff_client"  # after the handoff cases' client_key
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create guide_staff; add handoff_messages.staff_name."""
    op.create_table(
        "guide_staff",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guide_staff")),
        sa.UniqueConstraint("login", name=op.f("uq_guide_staff_login")),
    )
    with op.batch_alter_table("handoff_messages") as batch:
        batch.add_column(sa.Column("staff_name", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("handoff_messages") as batch:
        batch.drop_column("staff_name")
    op.drop_table("guide_staff")
