"""Data science pipelines: training (six steps) and batch inference (six steps)."""
