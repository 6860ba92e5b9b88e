"""Delivery helpers for CI/CD: release facts, deployment templates and smoke tests.

Standard library and PyYAML only, so a pipeline runs them before (or without) installing
the project: `uv run --no-project --with pyyaml python -m src.release --help`.
"""
