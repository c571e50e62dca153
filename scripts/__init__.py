"""Developer scripts run as modules (`python -m scripts.eval`, `python -m scripts.bench`)."""
