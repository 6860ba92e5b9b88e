"""Monitoring layer: drift and quality checks of logged predictions, and alerts."""
