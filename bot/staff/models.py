"""The staff table, in the booking store's metadata (one database, one migration chain).

Why a table and not an environment variable: the grid audit trail and the handoff cases
name the staff member who acted, which a shared password cannot prove. The password hash is
bot.channels.guide_auth's pbkdf2_sha256 format; a disabled account keeps its row so old
trail entries still name a known person. Migration 0005_staff must stay in step.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Text, true

from bot.booking.models import Base

__all__ = ["StaffAccount"]


class StaffAccount(Base):
    """One guide-console login."""

    __tablename__ = "guide_staff"

    id = Column(Integer, primary_key=True, autoincrement=True)
    login = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(64), nullable=False)
    password_hash = Column(Text, nullable=False)
    active = Column(Boolean, nullable=False, server_default=true())
    created_at = Column(DateTime(timezone=True), nullable=False)
