"""Custom Rasa NLU components. Importing a module registers its component with Rasa."""
