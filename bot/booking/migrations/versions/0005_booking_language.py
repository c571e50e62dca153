"""The conversation's language on each booking, for the reminder the day before.

Revision ID: 0005_booking_language
Revises: 0004_grid
Create Date: 2026-12-02

Written to match bot/booking/models.py (checked by the autogenerate diff in
tests/test_booking_repo.py). Bookings made before this revision were all worded in Chinese
(the reminder was Chinese only), so the server default "zh" is also their true value.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_booking_language"
down_revision = "0004_grid"  # after the grid tables (0004_grid.py)
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add bookings.language, "zh" for the rows already there."""
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(
            sa.Column(
                "language", sa.String(length=8), server_default=sa.text("'zh'"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("language")
