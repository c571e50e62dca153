"""Handoff cases remember which client opened them (a keyed hash), for the per-client cap.

Revision ID: 0005_handoff_client
Revises: 0005_booking_language
Create Date: 2026-12-02

Why: a REST or web-chat sender id is the client's own choice, so one client could open any
number of cases under made-up ids. bot.handoff.queue now counts the cases opened from one
client address in the last hour; the address itself is never stored, only
bot.inputs.client_key's HMAC of it. Written to match bot/handoff/models.py (checked by the
autogenerate diff in tests/test_booking_repo.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_handoff_client"
down_revision = "0005_booking_language"  # after the bookings.language column
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_cases") as batch:
        batch.add_column(sa.Column("client_key", sa.String(length=32), nullable=True))
        batch.create_index("ix_handoff_cases_client", ["client_key", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("handoff_cases") as batch:
        batch.drop_index("ix_handoff_cases_client")
        batch.drop_column("client_key")
