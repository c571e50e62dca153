-- The tracker store gets its own database beside the booking database (crj_booking,
-- created by the image from POSTGRES_DB), so retention and backups can treat them apart.
CREATE DATABASE crj_tracker OWNER crj;
