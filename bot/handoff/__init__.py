"""Human handoff with a queue (issue 14): cases in the database, staff in the guide console.

Importing this package opens no database and imports nothing heavy: bot.booking.models
imports bot.handoff.models so that the tables share the booking store's schema.
"""
