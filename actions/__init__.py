"""rasa_sdk actions. Thin: each asks bot.* and words the reply."""
