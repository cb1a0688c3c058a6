"""One module per resource: predictions, readings, corrections, and what describes the running
service."""
