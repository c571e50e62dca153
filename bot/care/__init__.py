"""Care after the answer (issue 14): satisfaction follow-up, its report, appointment reminders.

Importing this package opens no database; the engines come from bot.booking.db on first use.
"""
