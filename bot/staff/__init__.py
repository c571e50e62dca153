"""Per-staff accounts of the hall-guide console (login name, display name, password hash)."""
