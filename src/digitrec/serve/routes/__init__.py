"""One module per resource: predictions, and what describes the running service."""
