"""Pipelines: data engineering (DE) and data science (DS), composed from the library layers."""
