"""Initial booking schema: halls, slot counters, bookings, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written to match bot/booking/models.py (checked by tests/test_booking_repo.py, which compares
the migrated schema with the models through Alembic's autogenerate diff).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "halls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code_prefix", sa.String(length=4), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("hours", sa.Text(), nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("slot_capacity", sa.Integer(), nullable=False),
        sa.Column("green_capacity", sa.Integer(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), server_default=sa.text("30"), nullable=False),
        sa.Column("sessions", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("green_capacity >= 0", name=op.f("ck_halls_green_capacity_nonneg")),
        sa.CheckConstraint("slot_capacity >= 0", name=op.f("ck_halls_slot_capacity_nonneg")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halls")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("hall_id", sa.String(length=32), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_masked", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("phone_last4", sa.String(length=4), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("priority", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("green_seat", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hall_id"], ["halls.id"], name=op.f("fk_bookings_hall_id_halls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint("code", name=op.f("uq_bookings_code")),
    )
    op.create_index("ix_bookings_sender_id", "bookings", ["sender_id"])
    op.create_index("ix_bookings_slot", "bookings", ["hall_id", "day", "start_time"])
    op.create_index(
        "uq_bookings_active_person_service_day",
        "bookings",
        ["id_hash", "service", "day"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "slot_counters",
        sa.Column("hall_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("booked", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("priority_booked", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("booked >= 0", name=op.f("ck_slot_counters_booked_nonneg")),
        sa.CheckConstraint(
            "priority_booked >= 0", name=op.f("ck_slot_counters_priority_booked_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["hall_id"], ["halls.id"], name=op.f("fk_slot_counters_hall_id_halls")
        ),
        sa.PrimaryKeyConstraint("hall_id", "day", "start_time", name=op.f("pk_slot_counters")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_audit_log_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_code", "audit_log", ["code"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_code", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("slot_counters")
    op.drop_index("uq_bookings_active_person_service_day", table_name="bookings")
    op.drop_index("ix_bookings_slot", table_name="bookings")
    op.drop_index("ix_bookings_sender_id", table_name="bookings")
    op.drop_table("bookings")
    op.drop_table("halls")
