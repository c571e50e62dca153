"""Grid hazard reports: tickets, audit trail, notices, failed status checks.

Revision ID: 0004_grid
Revises: 0003_care
Create Date: 2026-12-02

Written to match bot/grid/models.py (checked by the autogenerate diff in
tests/test_booking_repo.py and tests/test_grid_repo.py). The grid tables were first written
with an Alembic history of their own (revision g0001, version table alembic_version_grid);
they now follow the care tables in the booking store's one chain. Nothing had been deployed
with the separate history, so no database holds alembic_version_grid and this revision
neither reads nor drops it: it simply creates the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_grid"
down_revision = "0003_care"  # after the care tables (0003_care.py)
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the four grid tables."""
    op.create_table(
        "grid_tickets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("place", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("urgent", sa.String(length=16), nullable=True),
        sa.Column("contact_sealed", sa.Text(), nullable=True),
        sa.Column("contact_masked", sa.String(length=20), nullable=True),
        sa.Column("contact_last4", sa.String(length=4), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_tickets")),
        sa.UniqueConstraint("code", name=op.f("uq_grid_tickets_code")),
    )
    op.create_index("ix_grid_tickets_sender_id", "grid_tickets", ["sender_id"])
    op.create_index("ix_grid_tickets_stage", "grid_tickets", ["stage"])
    op.create_table(
        "grid_ticket_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_stage", sa.String(length=16), nullable=True),
        sa.Column("to_stage", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["grid_tickets.id"],
            name=op.f("fk_grid_ticket_events_ticket_id_grid_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_ticket_events")),
    )
    op.create_index("ix_grid_ticket_events_ticket_id", "grid_ticket_events", ["ticket_id"])
    op.create_table(
        "grid_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["grid_tickets.id"], name=op.f("fk_grid_notices_ticket_id_grid_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_notices")),
    )
    op.create_index(
        "ix_grid_notices_recipient", "grid_notices", ["sender_id", "channel", "delivered_at"]
    )
    op.create_table(
        "grid_lookup_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_lookup_failures")),
    )
    op.create_index("ix_grid_lookup_failures_code_at", "grid_lookup_failures", ["code", "at"])
    op.create_index(
        "ix_grid_lookup_failures_sender_at", "grid_lookup_failures", ["sender_id", "at"]
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("grid_lookup_failures")
    op.drop_table("grid_notices")
    op.drop_table("grid_ticket_events")
    op.drop_table("grid_tickets")
